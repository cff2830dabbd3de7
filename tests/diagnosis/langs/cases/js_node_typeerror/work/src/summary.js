'use strict';

function bestRun(runs, metric) {
  let best = null;
  for (const run of runs) {
    const value = run.metrics[metric];
    if (best === null || value > best.value) {
      best = { id: run.id, value };
    }
  }
  return best;
}

module.exports = { bestRun };
