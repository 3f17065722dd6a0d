"""evaluation service: Unified rubrics, process visits, self-evaluation, satisfaction surveys, grades and published results."""
