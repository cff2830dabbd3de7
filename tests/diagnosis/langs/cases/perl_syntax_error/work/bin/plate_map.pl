#!/usr/bin/perl
use strict;
use warnings;

use Lab::Plate;

my $plate = Lab::Plate->new(name => 'ELISA-07');
$plate->set('A1', 'blank')->set('A2', 'std-1')->set('B1', 'patient-17');
print "$_\n" for $plate->layout;
