<?php

declare(strict_types=1);

namespace Lab\Billing;

/** Compute-hours billing for the shared GPU cluster. */
function gpuCost(float $hours, float $ratePerHour, int $gpus): float
{
    return round($hours * $ratePerHour * $gpus, 2);
}

function invoiceLine(string $project, float $hours, int $gpus): string
{
    return sprintf("%-12s %6.1f h x %d GPU = %8.2f EUR", $project, $hours, $gpus, gpuCost($hours, 2.10, $gpus));
}
