"""Cleaning steps for the sensor export."""

import json
import os

import csv


def drop_outliers(rows, column, limit=3.0):
    values = [float(r[column]) for r in rows]
    mean = sum(values) / len(values)
    spread = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5
    return [r for r, v in zip(rows, values) if abs(v - mean) <= limit * spread]


def read_export(path, columns=[]):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for c in columns:
            if row[c] == "":
                row[c] = None
    return rows
