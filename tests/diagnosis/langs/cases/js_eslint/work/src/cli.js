'use strict';

const { f1 } = require('./metrics');

let labels = JSON.parse(process.argv[2] || '{"predicted": [1, 0, 1], "actual": [1, 1, 1]}');
console.log('f1', f1(labels.predicted, labels.actual, 1));
