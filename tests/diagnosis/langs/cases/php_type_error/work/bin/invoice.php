<?php

declare(strict_types=1);

require __DIR__ . '/../src/Billing.php';

use function Lab\Billing\invoiceLine;

// usage rows as exported by the scheduler: project, hours, gpus (all strings)
$rows = [
    ['protein-fold', '120.5', '4'],
    ['seg-unet', '48', '2'],
];

foreach ($rows as [$project, $hours, $gpus]) {
    echo invoiceLine($project, (float) $hours, $gpus), PHP_EOL;
}
