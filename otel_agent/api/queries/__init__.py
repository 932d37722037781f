"""Read and write queries over the store tables, each scoped to one workspace."""
