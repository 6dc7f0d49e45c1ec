"""Scaffolding of a team's project: `meshlake init` (a project, optionally the sample domains) and
`meshlake domain new` (a working domain), rendered from the templates shipped in this package."""
