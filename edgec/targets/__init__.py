"""Device profiles (data) and one builder module per engine family."""
