from evalkit.reporting.render import summary_line

__all__ = ["summary_line"]
