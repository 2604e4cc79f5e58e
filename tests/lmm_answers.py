"""A corpus of realistic model answers, each with the rows the parser must produce.

Written for these tests in the styles models actually answer in: reasoning then a table, tables with
left/right despite the instruction, plurals, alternatives, misspellings, refusals, empty tables,
bold and italics, code fences, extra columns, pipes inside the reasoning.

Each entry: ``(name, people, text, expected_rows, expected_diagnostics)``; ``expected_diagnostics``
holds the ``ParsedAnswer`` fields to check besides the rows (a subset).
"""

from posejax.data.synthetic_answers import AnswerSettings


def perfect_answer_settings(num_answers: int = 20, **changes) -> AnswerSettings:
  """Simulated answers without any error, swap or plural (every answer lists exactly the true
  pairs), with ``changes`` on top."""
  fields = dict(num_answers=num_answers, miss_rate=0.0, hallucination_rate=0.0, side_rate=0.0,
                empty_rate=0.0, swap_rate=0.0, plural_rate=0.0)
  fields.update(changes)
  return AnswerSettings(**fields)


CORPUS = [
    ("plain_hug", 2, """The two people are embracing. Person 1 has their arms wrapped around Person 2's
back, and Person 2's head rests on Person 1's shoulder. Their chests are pressed together.

| Person 1 Body Part | Person 2 Body Part |
|--------------------|--------------------|
| arm | back |
| hand | back |
| shoulder (front) | head |
| chest | chest |
""", [("arm", "back"), ("hand", "back"), ("shoulder (front)", "head"), ("chest", "chest")],
     {"unknown_words": (), "sides_dropped": 0, "declared_empty": False}),

    ("sides_despite_instruction", 2, """Person 1 is holding Person 2's hand while walking.

| Person 1 Body Part | Person 2 Body Part |
| --- | --- |
| left hand | right hand |
| Right arm | left arm |
""", [("hand", "hand"), ("arm", "arm")], {"sides_dropped": 4}),

    ("plurals", 2, """Person 1 lifts Person 2 from behind, both hands at the waist.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hands | waist (front) |
| chest | back |
""", [("left hand", "waist (front)"), ("right hand", "waist (front)"), ("chest", "back")], {}),

    ("both_cells_plural", 2, """Dancing pose, hands on the partner's shoulders.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| both hands | shoulders (back) |
""", [("left hand", "shoulder (back)"), ("right hand", "shoulder (back)")], {}),

    ("alternatives", 2, """It is hard to tell whether the hand is on the lower back or the waist.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | back, waist (back) |
| arm | shoulder (back)/back |
| head | neck or shoulder (front) |
""", [("hand", ("back", "waist (back)")), ("arm", ("shoulder (back)", "back")),
      ("head", ("neck", "shoulder (front)"))], {}),

    ("misspellings", 2, """Person 1 rests a hand on Person 2's shoulder.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hnad | sholder (back) |
| haed | stomache |
""", [("hand", "shoulder (back)"), ("head", "stomach")],
     {"corrected_words": (("hnad", "hand"), ("sholder", "shoulder"), ("haed", "head"),
                          ("stomache", "stomach"))}),

    ("refusal", 2, """I'm sorry, but I can't help with identifying or describing the people in this
image.""", [], {"refusal": True, "table_found": False}),

    ("empty_table", 2, """The two people stand side by side without touching.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
""", [], {"declared_empty": True, "table_found": True}),

    ("none_row", 2, """No contact is visible.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| None | None |
""", [], {"declared_empty": True, "dropped": ()}),

    ("bold_italics", 2, """**Reasoning:** Person 1 *kisses* Person 2 on the cheek.

| **Person 1 Body Part** | **Person 2 Body Part** |
|:---|:---|
| **head** | *head* |
| _hand_ | __arm__ |
""", [("head", "head"), ("hand", "arm")], {}),

    ("code_fence", 2, """The pair is shaking hands.

```markdown
| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | hand |
```
""", [("hand", "hand")], {}),

    ("extra_columns", 2, """Carrying piggyback.

| # | Person 1 Body Part | Person 2 Body Part | Confidence |
|---|---|---|---|
| 1 | back | chest | high |
| 2 | arm | leg | medium |
| 3 | hand | leg | high |
""", [("back", "chest"), ("arm", "leg"), ("hand", "leg")], {"unknown_words": ()}),

    ("pipes_in_reasoning", 2, """Observations: Person 1 | Person 2 are leaning on each other; the
split between who is who | doesn't matter.

Final answer:
| Person 1 Body Part | Person 2 Body Part |
|---|---|
| shoulder (back) | shoulder (back) |
| head | head |
That's everything | I could see.
""", [("shoulder (back)", "shoulder (back)"), ("head", "head")], {"dropped": ()}),

    ("synonyms", 2, """Wrestling hold.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| forearm | neck |
| thigh | hips |
| palm | belly |
| knee | lower back |
| wrist | face |
""", [("arm", "neck"), ("leg", "waist"), ("hand", "stomach"), ("leg", "waist (back)"),
      (("hand", "arm"), "head")], {}),

    ("unknown_words", 2, """A tango dip.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | back |
| aura | hand |
| spleen region | arm |
""", [("hand", "back")], {"unknown_words": ("aura", "spleen")}),

    ("no_leading_pipes", 2, """Person 1 Body Part | Person 2 Body Part
--- | ---
hand | shoulder (front)
arm | arm
""", [("hand", "shoulder (front)"), ("arm", "arm")], {}),

    ("no_table_prose", 2, """Person 1's hand touches Person 2's back, and their heads are close together.""",
     [], {"table_found": False, "refusal": False}),

    ("draft_then_final", 2, """Draft:

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | head |

On reflection the hand is on the shoulder, not the head. Corrected table:

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | shoulder (front) |
""", [("hand", "shoulder (front)")], {"tables_ignored": 1}),

    ("ground_two_people", 2, """Both sit on the floor, back to back.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| back | back |
| butt | ground |
""", [("back", "back")], {"dropped_reasons": ("ground in a two-person answer",)}),

    ("html_breaks_and_descriptions", 2, """Hug from the side.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| Person 1's arm<br>(upper arm) | Person 2's shoulder (back) |
| the front of the shoulder | the side of the head |
""", [("arm", "shoulder (back)"), ("shoulder (front)", "head")], {"unknown_words": ()}),

    ("duplicate_rows", 2, """Holding hands.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| hand | hand |
| hand | hand |
""", [("hand", "hand"), ("hand", "hand")], {"dropped_reasons": ()}),  # both hands (METHOD's rule)

    ("one_cell_missing", 2, """Leaning.

| Person 1 Body Part | Person 2 Body Part |
|---|---|
| shoulder (front) | |
| arm | back |
""", [("arm", "back")], {"dropped_reasons": ("no part in cell 2",)}),

    # One person (self-contact, yoga).
    ("yoga_child_pose", 1, """The person is kneeling with the torso folded over the thighs and the
arms stretched forward on the mat. This is Child's Pose (Balasana).

| Body Part A | Body Part B |
|---|---|
| stomach | leg |
| head | ground |
| hands | ground |
| butt | foot |
""", [("stomach", "leg"), ("head", "ground"), ("left hand", "ground"), ("right hand", "ground"),
      ("butt", "foot")], {}),

    ("yoga_sides_and_synonyms", 1, """Tree pose (Vrksasana): standing on the left leg, the right sole
pressed against the inner left thigh, palms together in front of the chest.

| Body Part A | Body Part B |
|---|---|
| right foot | left leg |
| left palm | right palm |
| left foot | floor |
""", [("foot", "leg"), ("hand", "hand"), ("foot", "ground")], {"sides_dropped": 5}),

    ("yoga_self_pair_and_shoulders", 1, """Eagle arms: the arms wrap around each other.

| Body Part A | Body Part B |
|---|---|
| arm | arm |
| head | head |
| shoulder (front) | hand |
| lower back | ground |
""", [("arm", "arm"), ("shoulder", "hand"), ("back", "ground")],
     {"dropped_reasons": ("a part paired with itself",)}),

    ("yoga_empty", 1, """The person stands upright in Mountain Pose with arms hanging at the sides;
only the feet touch the ground... actually I will list nothing.

| Body Part A | Body Part B |
|---|---|
| - | - |
""", [], {"declared_empty": True}),

    ("reasoning_mentions_left", 1, """Describing the pose: the left hand grabs the right foot behind the
back (a standing bow pose). The right foot is held by the left hand.

| Body Part A | Body Part B |
|---|---|
| hand | foot |
| foot | ground |
""", [("hand", "foot"), ("foot", "ground")], {"sides_dropped": 0}),
]
"""``(name, people, text, expected_rows, expected_diagnostics)``."""

TRUST_SIDES = [
    ("trusted_sides", 2, """| Person 1 Body Part | Person 2 Body Part |
|---|---|
| left hand | right shoulder (back) |
| hands | back |
| left hip | head |
""", [("left hand", "right shoulder (back)"), ("left hand", "back"), ("right hand", "back"),
      ("waist", "head")], {"sides_dropped": 1}),
]
"""Entries for ``trust_sides=True``."""
