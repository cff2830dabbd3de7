'use strict';

const { parseConfig } = require('../src/config');

describe('parseConfig', () => {
  test('keeps defaults for missing keys', () => {
    expect(parseConfig('lr = 0.01\n').epochs).toBe(10);
  });

  test('accepts scientific notation and comments', () => {
    const text = '# schedule\nlr = 3e-4\nepochs = 20 # more epochs\n';
    const config = parseConfig(text);
    expect(config).toEqual({ lr: 3e-4, epochs: 20, batchSize: 32 });
  });
});
