'use strict';

const fs = require('fs');
const { bestRun } = require('./summary');

const path = process.argv[2] || 'data/runs.json';
const runs = JSON.parse(fs.readFileSync(path, 'utf8'));
const best = bestRun(runs, 'accuracy');
console.log(`best run: ${best.id} (accuracy ${best.value})`);
