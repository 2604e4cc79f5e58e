"""Asking the model about images through the cache: one image, or a dataset with bounded concurrency.

What is cached is never asked again; what is missing is asked for and cached as it arrives. With
``offline=True`` the cache alone answers, and missing answers raise ``LMMError`` naming the key.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
from typing import Callable, Sequence

from posejax.errors import LMMError
from posejax.lmm.cache import AnswerCache
from posejax.lmm.cache import SamplingSettings
from posejax.lmm.cache import cache_key
from posejax.lmm.cache import content_hash_of_text
from posejax.lmm.image import PreparedImage
from posejax.lmm.prompts import Prompt


@dataclasses.dataclass(frozen=True)
class QueryItem:
  """One thing to ask about: a prepared image, or a description for a text-only prompt."""

  image_id: str  # the caller's name for it (file stem, dataset id), recorded with each answer
  image: PreparedImage | None = None
  description: str | None = None

  @property
  def content_hash(self) -> str:
    if self.image is not None:
      return self.image.content_hash
    return content_hash_of_text(self.description or "")


@dataclasses.dataclass(frozen=True)
class QueryResult:
  """The answers for one item."""

  image_id: str
  key: str  # the cache key
  answers: tuple[str, ...]  # the n answers (empty when ``error`` is set)
  from_cache: int  # how many of them were already cached
  fetched: int  # how many were asked for in this call
  prompt_version: str
  model: str
  error: str | None = None  # why the item failed for good


def item_key(item: QueryItem, prompt: Prompt, settings: SamplingSettings) -> str:
  """The cache key of an item under a prompt and settings."""
  return cache_key(item.content_hash, prompt.version, settings)


def query(item: QueryItem, *, prompt: Prompt, settings: SamplingSettings, cache: AnswerCache,
          client=None, n: int = 20, offline: bool = False) -> QueryResult:
  """The ``n`` answers for one item, from the cache first and the model for the rest.

  Args:
    item: what to ask about.
    prompt: the prompt (its version is part of the cache key).
    settings: model and sampling settings (part of the cache key).
    cache: the answer cache; new answers are appended as they arrive.
    client: an ``LMMClient``; unused when the cache already holds ``n`` answers.
    n: the number of answers wanted (the reference: 20).
    offline: never ask the model; missing answers are an error.

  Raises:
    LMMError: in offline mode when fewer than ``n`` answers are cached (the message names the key),
      when a client is needed but missing, or when a request fails for good.
  """
  if n < 1:
    raise LMMError(f"n must be at least 1, got {n}")
  if prompt.text_only and not (item.description and item.description.strip()):
    raise LMMError(f"item {item.image_id!r}: prompt {prompt.name!r} is text-only and needs a "
                   "description")
  if not prompt.text_only and item.image is None:
    raise LMMError(f"item {item.image_id!r}: prompt {prompt.name!r} needs an image; prepare one "
                   "with posejax.lmm.prepare_image")
  key = item_key(item, prompt, settings)
  with cache.reserve(key):
    have = cache.count(key)
    missing = n - have
    if missing > 0:
      if offline or client is None:
        why = "offline mode" if offline else "no client was given"
        raise LMMError(
            f"{why}: the cache {cache.path} holds {have} of the {n} answers for item "
            f"{item.image_id!r} (cache key {key}, prompt {prompt.version}, model "
            f"{settings.model!r}); run once with a client to fill it")
      messages = prompt.messages(image_b64=item.image.base64 if item.image is not None else None,
                                 description=item.description, detail=settings.detail)

      def store(choice, usage):
        cache.append(key, choice.text, image_id=item.image_id, prompt_version=prompt.version,
                     model=settings.model, settings=settings.as_dict(), usage=usage,
                     finish_reason=choice.finish_reason)

      client.sample(messages, missing, settings, on_answer=store)
    answers = tuple(cache.answers(key)[:n])
  return QueryResult(image_id=item.image_id, key=key, answers=answers, from_cache=min(have, n),
                     fetched=max(0, missing), prompt_version=prompt.version, model=settings.model)


def query_many(items: Sequence[QueryItem], *, prompt: Prompt, settings: SamplingSettings,
               cache: AnswerCache, client=None, n: int = 20, max_workers: int = 4,
               offline: bool = False, raise_on_error: bool = True,
               progress: Callable[[int, int, QueryResult], None] | None = None) -> list[QueryResult]:
  """Answers for a dataset, at most ``max_workers`` requests in flight.

  Items with the same cache key (the same image twice) are asked about once. An item that fails for
  good (``LMMError``) does not stop the others; their answers are cached either way.

  Args:
    items: what to ask about.
    prompt, settings, cache, client, n, offline: as for ``query``.
    max_workers: the most items queried at the same time.
    raise_on_error: raise one ``LMMError`` naming every failed item after all others finished;
      otherwise failed items come back with ``error`` set and no answers.
    progress: called after each item as ``progress(done, total, result)``.

  Returns:
    One ``QueryResult`` per item, in the order of ``items``.

  Raises:
    LMMError: when ``raise_on_error`` and some item failed.
  """
  keys = [item_key(item, prompt, settings) for item in items]
  first_of_key: dict[str, int] = {}
  for position, key in enumerate(keys):
    first_of_key.setdefault(key, position)
  unique = list(first_of_key.values())
  by_key: dict[str, QueryResult] = {}
  total = len(unique)

  def run_one(position: int) -> QueryResult:
    item = items[position]
    try:
      return query(item, prompt=prompt, settings=settings, cache=cache, client=client, n=n,
                   offline=offline)
    except LMMError as error:
      return QueryResult(image_id=item.image_id, key=keys[position], answers=(), from_cache=0,
                         fetched=0, prompt_version=prompt.version, model=settings.model,
                         error=str(error))

  pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, int(max_workers)))
  try:
    futures = [pool.submit(run_one, position) for position in unique]
    for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
      result = future.result()
      by_key[result.key] = result
      if progress is not None:
        progress(done, total, result)
  finally:
    pool.shutdown(wait=True, cancel_futures=True)
  results = []
  for item, key in zip(items, keys):
    result = by_key[key]
    results.append(result if result.image_id == item.image_id
                   else dataclasses.replace(result, image_id=item.image_id))
  failed = [r for r in results if r.error is not None]
  if failed and raise_on_error:
    listed = "; ".join(f"{r.image_id}: {r.error}" for r in failed[:5])
    more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
    raise LMMError(f"{len(failed)} of {len(results)} items failed: {listed}{more}")
  return results
