"""The language-model adapter: prompts, sampling with cache and retries, answers to Constraints."""
