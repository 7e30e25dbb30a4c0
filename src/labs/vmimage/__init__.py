"""The Labs VM image: `labs image build` makes it from Debian packages only."""
