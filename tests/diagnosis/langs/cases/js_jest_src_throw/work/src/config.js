'use strict';

const DEFAULTS = { lr: 0.001, epochs: 10, batchSize: 32 };

function parseValue(key, raw) {
  const value = Number(raw);
  if (Number.isNaN(value)) {
    throw new Error(`config: ${key} must be a number, got "${raw}"`);
  }
  return value;
}

function parseConfig(text) {
  const config = { ...DEFAULTS };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) continue;
    const [key, raw] = trimmed.split('=').map((s) => s.trim());
    config[key] = parseValue(key, raw);
  }
  return config;
}

module.exports = { parseConfig };
