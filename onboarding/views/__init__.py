"""The onboarding flow's views, one module per step: team, GitHub, repositories, sync, dashboard."""
