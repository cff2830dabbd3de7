'use strict';

const test = require('tape');
const { mean, variance } = require('../src/stats');

test('mean of a small sample', (t) => {
  t.equal(mean([1, 2, 3, 4]), 2.5);
  t.end();
});

test('sample variance uses n - 1', (t) => {
  t.equal(variance([1, 2, 3, 4]), 5 / 3);
  t.end();
});

test('variance of a constant sample is zero', (t) => {
  t.equal(variance([7, 7, 7]), 0);
  t.equal(variance([2, 4]), 2);
  t.end();
});
