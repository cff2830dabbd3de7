'use strict';

const { JobQueue } = require('../src/queue');

test('drain resolves at once when empty', async () => {
  await new JobQueue().drain();
});

test('drain waits for pushed jobs', async () => {
  const queue = new JobQueue();
  queue.push({ id: 'preprocess' });
  await queue.drain();
  expect(queue.pending).toHaveLength(0);
}, 500);
