'use strict';

const { readFileSync } = require('fs');

function precisionRecall(predicted, actual, positive) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < predicted.length; i++) {
    if (predicted[i] == positive && actual[i] == positive) tp++;
    else if (predicted[i] === positive) fp++;
    else if (actual[i] === positive) fn++;
  }
  return { precision: tp / (tp + fp), recall: tp / (tp + fn) };
}

function f1(predicted, actual, positive) {
  const { precision, recall } = precisionRecall(predicted, actual, positive);
  return (2 * precision * recal) / (precision + recall);
}

module.exports = { precisionRecall, f1 };
