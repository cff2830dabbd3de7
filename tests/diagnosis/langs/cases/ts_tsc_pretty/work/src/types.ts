export interface Sample {
  id: string;
  features: number[];
  label: number;
}

export interface Split {
  train: Sample[];
  validation: Sample[];
}
