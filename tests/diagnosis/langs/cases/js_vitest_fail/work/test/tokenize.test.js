import { tokenize, vocabulary } from '../src/tokenize.js';

describe('tokenize', () => {
  it('lower-cases and strips punctuation', () => {
    expect(tokenize('Hello, World!')).toEqual(['hello', 'world']);
  });

  it('treats runs of whitespace as one separator', () => {
    const tokens = tokenize('gradient  descent\tconverges');
    expect(tokens).toEqual(['gradient', 'descent', 'converges']);
  });
});

describe('vocabulary', () => {
  it('counts tokens across documents', () => {
    const vocab = vocabulary(['a b', 'b c']);
    expect(vocab.get('b')).toBe(2);
  });
});
