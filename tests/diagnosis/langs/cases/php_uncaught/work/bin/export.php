<?php

declare(strict_types=1);

require __DIR__ . '/../src/ExportConfig.php';

function main(array $argv): int
{
    $config = ExportConfig::fromIni($argv[1] ?? 'config/export.ini');
    printf("exporting as %s to %s\n", $config->format, $config->destination);
    return 0;
}

exit(main($argv));
