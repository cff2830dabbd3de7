'use strict';

const t = require('tap');
const { mean, variance } = require('../src/stats');

t.test('mean of a small sample', async (t) => {
  t.equal(mean([1, 2, 3, 4]), 2.5);
});

t.test('sample variance uses n - 1', async (t) => {
  t.equal(variance([1, 2, 3, 4]), 5 / 3);
});

t.test('variance of a constant sample is zero', async (t) => {
  t.equal(variance([7, 7, 7]), 0);
  t.equal(variance([2, 4]), 2);
});
