package Lab::Plate;

use strict;
use warnings;

# A 96-well plate: rows A-H, columns 1-12.
sub new {
    my ($class, %args) = @_;
    my $self = { name => $args{name}, wells => {} };
    return bless $self, $class;
}

sub set {
    my ($self, $well, $sample) = @_;
    die "bad well $well\n" unless $well =~ /^[A-H](?:[1-9]|1[0-2])$/;
    $self->{wells}{$well} = $sample
    return $self;
}

sub layout {
    my ($self) = @_;
    return map { "$_\t$self->{wells}{$_}" } sort keys %{ $self->{wells} };
}

1;
