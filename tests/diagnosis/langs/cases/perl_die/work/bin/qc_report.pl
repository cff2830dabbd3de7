#!/usr/bin/perl
use strict;
use warnings;

use Stats qw(mean stddev);

my $path = shift @ARGV or die "usage: $0 reads.tsv\n";
open my $fh, '<', $path or die "cannot open $path: $!";
my $header = <$fh>;
my @reads;
while (my $line = <$fh>) {
    chomp $line;
    my ($sample, $reads, $q30) = split /\t/, $line;
    push @reads, $reads;
}
close $fh;

printf "samples %d  mean reads %.0f  sd %.0f\n", scalar @reads, mean(@reads), stddev(@reads);
