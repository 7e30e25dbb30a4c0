"""The scheduler: host filters and weighers, as small plug-in classes."""
