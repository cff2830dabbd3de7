#!/usr/bin/env bash
# Sort and index one alignment, then write the per-contig read counts.
set -eo pipefail

sam="$1"
name="$(basename "$sam" .sam)"
outdir="results/$name"
mkdir -p "$outdir"

echo "[$(date +%H:%M:%S)] sorting $sam"
awk '!/^@/ {n++} END {print n " alignments"}' "$sam"

# on the cluster: module load samtools/1.17
samtools view -b "$sam" -o "$outdir/$name.unsorted.bam"
samtools sort -@ 4 -o "$outdir/$name.bam" "$outdir/$name.unsorted.bam"
samtools index "$outdir/$name.bam"
samtools idxstats "$outdir/$name.bam" > "$outdir/$name.counts.tsv"
echo "[$(date +%H:%M:%S)] done: $outdir"
