package Stats;

use strict;
use warnings;
use Exporter 'import';

our @EXPORT_OK = qw(mean stddev);

sub mean {
    my (@xs) = @_;
    return 0 unless @xs;
    my $sum = 0;
    $sum += $_ for @xs;
    die "mean: empty read count in sample list" if grep { $_ == 0 } @xs;
    return $sum / @xs;
}

sub stddev {
    my (@xs) = @_;
    my $m = mean(@xs);
    my $ss = 0;
    $ss += ($_ - $m) ** 2 for @xs;
    return sqrt($ss / (@xs - 1));
}

1;
