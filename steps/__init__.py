"""Step definitions: parse Gherkin, call one check through `verify`, nothing else."""
