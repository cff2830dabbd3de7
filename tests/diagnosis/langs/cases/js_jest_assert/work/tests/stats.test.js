'use strict';

const { mean, variance } = require('../src/stats');

test('mean of a small sample', () => {
  expect(mean([2, 4, 6])).toBe(4);
});

test('sample variance uses n - 1', () => {
  const xs = [2, 4, 4, 4, 5, 5, 7, 9];
  expect(variance(xs)).toBeCloseTo(4.571428, 5);
});
