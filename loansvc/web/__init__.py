"""The HTTP edge shared by every feature: problem details, dependencies, middleware, common types."""
