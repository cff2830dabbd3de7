<?php

declare(strict_types=1);

final class ExportConfig
{
    private const FORMATS = ['csv', 'jsonl'];

    public function __construct(
        public readonly string $format,
        public readonly string $destination,
    ) {
    }

    public static function fromIni(string $path): self
    {
        $ini = parse_ini_file($path, true);
        if ($ini === false || !isset($ini['export'])) {
            throw new RuntimeException("no [export] section in $path");
        }
        $section = $ini['export'];
        return new self(self::checkFormat($section['format']), $section['destination']);
    }

    private static function checkFormat(string $format): string
    {
        if (!in_array($format, self::FORMATS, true)) {
            throw new InvalidArgumentException(
                sprintf('unsupported export format "%s" (expected one of: %s)', $format, implode(', ', self::FORMATS))
            );
        }
        return $format;
    }
}
