import { TrainingRecord } from "../../model/record";

export function parseJsonl(text: string): TrainingRecord[] {
  const records: TrainingRecord[] = [];
  text.split("\n").forEach((line, index) => {
    if (line.trim() === "") return;
    const raw = JSON.parse(line) as Partial<TrainingRecord>;
    if (raw.prompt === undefined || raw.completion === undefined) {
      throw new Error(`line ${index + 1}: missing prompt or completion`);
    }
    records.push({ prompt: raw.prompt, completion: raw.completion, tokens: raw.tokens });
  });
  return records;
}

export function totalTokens(records: TrainingRecord[]): number {
  return records.reduce((sum, r) => sum + r.tokens, 0);
}
