'use strict';

class JobQueue {
  constructor() {
    this.pending = [];
    this.waiters = [];
  }

  push(job) {
    this.pending.push(job);
  }

  // Resolves when every pushed job is done; jobs call done() when they finish.
  drain() {
    return new Promise((resolve) => {
      if (this.pending.length === 0) return resolve();
      this.waiters.push(resolve);
    });
  }

  done() {
    this.pending.shift();
    if (this.pending.length === 0) this.waiters.splice(0).forEach((w) => w());
  }
}

module.exports = { JobQueue };
