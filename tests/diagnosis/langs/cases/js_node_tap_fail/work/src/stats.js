'use strict';

function mean(xs) {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

// Sample variance (n - 1 in the denominator).
function variance(xs) {
  const m = mean(xs);
  const ss = xs.reduce((acc, x) => acc + (x - m) ** 2, 0);
  return ss / xs.length;
}

module.exports = { mean, variance };
