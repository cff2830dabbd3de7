// Lower-cases, strips punctuation and splits on whitespace.
export function tokenize(text) {
  return text
    .toLowerCase()
    .replace(/[.,;:!?]/g, '')
    .split(' ');
}

export function vocabulary(docs) {
  const counts = new Map();
  for (const doc of docs) {
    for (const token of tokenize(doc)) {
      counts.set(token, (counts.get(token) ?? 0) + 1);
    }
  }
  return counts;
}
