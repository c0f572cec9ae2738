"""Report code (Allure labels, evidence, summaries); run outputs beside it are git-ignored."""
