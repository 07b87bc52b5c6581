"""Questions over the composed scenes (mmdemo/datasets/scenes.py), CLEVR-style: each question is a small
functional program run on the scene's objects (noun, colour, size, box), so every answer is computed.

    objects = scene_objects(data, i)                 # from scenes.build(...)
    q = sample_question(rng, objects, "relate_color", heldout_templates=False)
    q.text, q.answer, q.family, q.hops                # hops: per hop, the objects it should look at

Programs (kind -> family):
    exist                 exist(filter(F))                                        existence
    query_color/noun/size query_attr(unique(filter(F)))                           attribute
    count                 count(filter(F))                                        counting
    relate_color/noun     query_attr(unique(filter(A, relate(dir, unique(filter(B))))))   relation
    both, attr_pair       exist(F1) and exist(F2); exist(filter(colour & noun))   conjunction
    not_exist/not_color   not exist(F); unique(F).colour != c                     negation
    count_not             count(objects whose colour != c)                        negation
    more/fewer/same       count(F1) > / < / == count(F2)                          comparison
    property              unique(F) has property P (round, four-sided, odd digit, ...)   property
    prior_*               facts about words alone ("is seven an odd digit?")      prior (no image needed)

Filters F = (size, colour, category): category is a noun ("seven", "circle") or a property or class
("shape", "digit", "object", "round shape", "four-sided shape", "odd digit", ...); synonyms ("grey",
"big", "little", "number") appear in the phrases. Relations compare box centres: X is left of B when
X's centre x is smaller; pairs within MARGIN px along the relation's axis make the question ambiguous
and it is not asked. Every kind has training templates and held-out templates (evaluation only).
Held-out colour-noun pairs (scenes.HELDOUT) never appear in training questions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ...datasets.easyvqa import COLORS, SHAPES
from ...datasets.scenes import DIGITS, HELDOUT, NOUNS, OBJECT_COLORS, centre, size_word

MARGIN = 6.0
COMPARISONS = ("more", "fewer", "same")     # the comparison kinds (scene_model's readout learns which is asked)
SIZES = ["small", "large"]
COUNTS = ["0", "1", "2", "3", "4"]
ANSWERS = ["yes", "no"] + COLORS + NOUNS + SIZES + COUNTS
RELATIONS = {"left": ("left of", 0, -1), "right": ("right of", 0, 1), "above": ("above", 1, -1),
             "below": ("below", 1, 1)}        # words, axis (0 x, 1 y), sign of (X - B) along the axis
ODD, EVEN = {d for i, d in enumerate(DIGITS) if i % 2}, {d for i, d in enumerate(DIGITS) if i % 2 == 0}
SIDES = {"circle": "0", "triangle": "3", "rectangle": "4"}
# category -> (the nouns it covers, how it is written); the first phrase is the plain one
CATEGORIES = {
    "object": (set(NOUNS), ["object", "thing"]), "shape": (set(SHAPES), ["shape", "figure"]),
    "digit": (set(DIGITS), ["digit", "number"]), "round": ({"circle"}, ["round shape", "round thing"]),
    "four-sided": ({"rectangle"}, ["four-sided shape", "shape with four sides"]),
    "three-sided": ({"triangle"}, ["three-sided shape", "triangular shape"]),
    "odd": (ODD, ["odd digit", "odd number"]), "even": (EVEN, ["even digit", "even number"]),
    **{n: ({n}, [n]) for n in NOUNS},
}
COLOR_WORDS = {**{c: [c] for c in COLORS}, "gray": ["gray", "grey"]}
SIZE_WORDS = {"small": ["small", "little"], "large": ["large", "big"]}
PROPERTIES = {"round": "round", "four-sided": "four-sided", "three-sided": "three-sided",
              "odd": "an odd digit", "even": "an even digit", "digit": "a digit", "shape": "a shape"}

# kind -> (training templates, held-out templates). Slots: {a} {b} object phrases, {as} {bs} their
# plurals, {c} a colour, {r} a relation, {p} a property, {n} a noun.
TEMPLATES = {
    "exist": (["is there a {a}?", "are there any {as}?", "do you see a {a}?"],
              ["does the picture contain a {a}?", "can a {a} be seen here?"]),
    "query_color": (["what colour is the {a}?", "what color is the {a}?", "which colour does the {a} have?"],
                    ["the {a} is what colour?", "tell me the colour of the {a}"]),
    "query_noun": (["what is the {a}?", "what kind of object is the {a}?", "which object is the {a}?"],
                   ["name the {a}.", "the {a} is which object?"]),
    "query_size": (["what size is the {a}?", "how big is the {a}?", "is the {a} small or large?"],
                   ["tell me the size of the {a}", "the {a} is which size?"]),
    "count": (["how many {as} are there?", "how many {as} do you see?", "count the {as}."],
              ["what is the number of {as}?", "how many {as} are in the picture?"]),
    "relate_color": (["what colour is the {a} {r} the {b}?", "what color is the {a} that is {r} the {b}?"],
                     ["the {a} {r} the {b} has which colour?"]),
    "relate_noun": (["what is the {a} {r} the {b}?", "which object is {r} the {b}?"],
                    ["name the {a} that is {r} the {b}."]),
    "both": (["is there a {a} and a {b}?", "are there both a {a} and a {b}?"],
             ["does the picture show a {a} as well as a {b}?"]),
    "attr_pair": (["is there a {c} {n}?", "does it show a {c} {n}?", "do you see a {c} {n}?"],
                  ["is any {n} {c}?", "can you find a {c} {n}?"]),
    "not_exist": (["is there no {a}?", "are there no {as}?"], ["is the picture free of {as}?"]),
    "not_color": (["is the {a} not {c}?", "is the {a} a colour other than {c}?"], ["isn't the {a} {c}?"]),
    "count_not": (["how many objects are not {c}?", "how many things are not {c}?"],
                  ["count the objects that are not {c}."]),
    "more": (["are there more {as} than {bs}?", "are {as} more numerous than {bs}?"],
             ["does the picture have more {as} than {bs}?"]),
    "fewer": (["are there fewer {as} than {bs}?", "are there less {as} than {bs}?"],
              ["does the picture have fewer {as} than {bs}?"]),
    "same": (["are there as many {as} as {bs}?", "is the number of {as} equal to the number of {bs}?"],
             ["are there equally many {as} and {bs}?"]),
    "property": (["is the {a} {p}?", "would you call the {a} {p}?"], ["is it true that the {a} is {p}?"]),
    "prior_parity": (["is {n} an odd number?", "is {n} an even number?"], ["is the digit {n} odd?"]),
    "prior_sides": (["how many sides does a {n} have?", "how many corners does a {n} have?"],
                    ["a {n} has how many sides?"]),
    "prior_round": (["is a {n} round?"], ["is every {n} round?"]),
}
# kind -> more training-only paraphrases (scene_train uses them; the evaluation's test questions are drawn
# from TEMPLATES alone, so they are unchanged). Written as further ways to ask each program, not as
# variants of the held-out templates above (which stay out of training).
TRAIN_EXTRA = {
    "exist": ["is a {a} visible?", "is there at least one {a}?", "does this scene include a {a}?"],
    "query_color": ["what is the colour of the {a}?", "which color is the {a}?", "what colour does the {a} have?"],
    "query_noun": ["what object is the {a}?", "identify the {a}.", "what exactly is the {a}?"],
    "query_size": ["what is the size of the {a}?", "is the {a} large or small?", "which size does the {a} have?"],
    "count": ["how many {as} are visible?", "count how many {as} there are.", "give the count of {as}."],
    "relate_color": ["what is the colour of the {a} {r} the {b}?", "which colour has the {a} {r} the {b}?",
                     "what colour has the {a} that is located {r} the {b}?"],
    "relate_noun": ["which {a} is {r} the {b}?", "identify the {a} {r} the {b}.", "what object is {r} the {b}?"],
    "both": ["are a {a} and a {b} both present?", "do you see a {a} and also a {b}?",
             "is there a {a} together with a {b}?"],
    "attr_pair": ["is there any {c} {n}?", "is a {c} {n} present?", "does a {c} {n} appear?"],
    "not_exist": ["is there not a single {a}?", "are {as} absent?", "does the scene lack {as}?",
                  "are zero {as} present?", "do no {as} appear?"],
    "not_color": ["is the {a} some colour other than {c}?", "is the colour of the {a} not {c}?",
                  "is the {a} anything but {c}?", "is the {a} coloured something besides {c}?"],
    "count_not": ["how many objects have a colour other than {c}?", "how many of the objects are not {c}?",
                  "how many things aren't {c}?"],
    "more": ["is the number of {as} greater than the number of {bs}?", "do the {as} outnumber the {bs}?",
             "are there more {as} here than {bs}?", "is there a larger number of {as} than {bs}?"],
    "fewer": ["is the number of {as} smaller than the number of {bs}?", "are the {as} fewer than the {bs}?",
              "are {as} less numerous than {bs}?", "is there a smaller number of {as} than {bs}?",
              "are the {as} outnumbered by the {bs}?"],
    "same": ["do the {as} and the {bs} have the same count?", "is the count of {as} the same as the count of {bs}?",
             "are {as} as numerous as {bs}?", "is there the same number of {as} as {bs}?",
             "do the {as} match the {bs} in number?"],
    "property": ["is the {a} really {p}?", "would you say the {a} is {p}?", "can the {a} be called {p}?"],
    "prior_parity": ["is {n} even?", "would {n} be an odd number?", "can {n} be divided by two?"],
    "prior_sides": ["count the sides of a {n}.", "how many edges does a {n} have?"],
    "prior_round": ["is a {n} a round shape?", "does a {n} have a round outline?"],
}
# training only (with TRAIN_EXTRA): a share of the questions start with a lead-in that changes nothing, so words
# such as "picture" or "image" - in no template above - are known to the model as neutral context
LEAD_INS = ["in the picture, ", "in this image, ", "looking at the scene, ", "here, ", "in the image shown, ",
            "on this canvas, "]
LEAD_IN_SHARE = 0.2
FAMILY = {"exist": "existence", "query_color": "attribute", "query_noun": "attribute",
          "query_size": "attribute", "count": "counting", "relate_color": "relation",
          "relate_noun": "relation", "both": "conjunction", "attr_pair": "conjunction",
          "not_exist": "negation", "not_color": "negation", "count_not": "negation", "more": "comparison",
          "fewer": "comparison", "same": "comparison", "property": "property", "prior_parity": "prior",
          "prior_sides": "prior", "prior_round": "prior"}
FAMILIES = list(dict.fromkeys(FAMILY.values()))
KINDS = list(TEMPLATES)
KIND_WEIGHTS = {"exist": 1, "query_color": 1, "query_noun": 1, "query_size": 0.6, "count": 1.4,
                "relate_color": 1.3, "relate_noun": 1.3, "both": 0.6, "attr_pair": 1, "not_exist": 0.6,
                "not_color": 0.5, "count_not": 0.5, "more": 0.6, "fewer": 0.5, "same": 0.5, "property": 1,
                "prior_parity": 0.25, "prior_sides": 0.2, "prior_round": 0.15}
# training draws the kinds that need two counts or a negation more often than the test does
TRAIN_KIND_WEIGHTS = {**KIND_WEIGHTS, "more": 1.2, "fewer": 1.0, "same": 1.0, "not_exist": 0.9, "not_color": 0.8,
                      "count_not": 0.8}


@dataclass
class Question:
    text: str
    answer: str
    kind: str
    template: int                       # index into the kind's train (or held-out) templates
    heldout_template: bool
    hops: list[list[int]] = field(default_factory=list)   # per hop: objects it should attend to ([] = any)
    about: int = -1                     # the one object the question asks about, -1 if none

    @property
    def family(self) -> str:
        return FAMILY[self.kind]


def scene_objects(data: dict, i: int) -> list[dict]:
    """Scene i of scenes.build(...) -> its objects: noun, colour, size, box, centre."""
    out = []
    for k in range(4):
        if data["nouns"][i, k] < 0:
            break
        box = tuple(int(v) for v in data["boxes"][i, k])
        out.append({"noun": NOUNS[data["nouns"][i, k]], "color": OBJECT_COLORS[data["colors"][i, k]],
                    "size": size_word(box), "box": box, "centre": centre(box)})
    return out


def matches(o: dict, f: tuple) -> bool:
    size, color, category = f
    return ((size is None or o["size"] == size) and (color is None or o["color"] == color)
            and o["noun"] in CATEGORIES[category][0])


def selected(objects, f) -> list[int]:
    return [i for i, o in enumerate(objects) if matches(o, f)]


def phrase(rng, f, plural: bool = False) -> str:
    size, color, category = f
    words = [] if size is None else [pick(rng, SIZE_WORDS[size])]
    words += [] if color is None else [pick(rng, COLOR_WORDS.get(color, [color]))]
    noun = pick(rng, CATEGORIES[category][1])
    return " ".join(words + [plural_of(noun) if plural else noun])


def plural_of(noun: str) -> str:
    head, _, rest = noun.partition(" with ")
    head = head + ("es" if head.endswith(("x", "s")) else "s")
    return head + (f" with {rest}" if rest else "")


def pick(rng, items):
    return items[int(rng.integers(len(items)))]


def mentions_heldout(f) -> bool:
    _, color, category = f
    if category is None:
        return False
    return any((color, n) in HELDOUT for n in CATEGORIES[category][0]) and len(CATEGORIES[category][0]) == 1


def random_filter(rng, objects, present: bool | None = None) -> tuple:
    """A filter that (present=True) selects at least one object, (False) none, (None) either."""
    for _ in range(20):
        if present is not False and objects and (present or rng.random() < 0.5):
            o = pick(rng, objects)
            category = o["noun"] if rng.random() < 0.6 else pick(rng, [c for c, (ns, _) in CATEGORIES.items()
                                                                          if o["noun"] in ns and c not in NOUNS])
            color = o["color"] if rng.random() < 0.4 else None
        else:
            category = pick(rng, list(CATEGORIES))
            color = pick(rng, COLORS) if rng.random() < 0.4 else None
        size = (pick(rng, SIZES) if present is False else None) if rng.random() < 0.15 else None
        f = (size, color, category)
        if present is None or bool(selected(objects, f)) == present:
            return f
    return None


def describe(rng, objects, i: int, asked: str = "") -> tuple | None:
    """A random filter that picks out object i alone (None if none does), never naming the attribute
    `asked` ("noun": no exact noun nor a property that gives it away, "color", "size")."""
    o = objects[i]
    categories = [c for c, (ns, _) in CATEGORIES.items() if o["noun"] in ns
                  and not (asked == "noun" and len(ns) == 1)]
    colors = (None,) if asked == "color" else (None, o["color"])
    sizes = (None,) if asked == "size" else (None, o["size"])
    options = [(s, c, k) for k in categories for c in colors for s in sizes]
    options = [f for f in options if selected(objects, f) == [i]]
    if not options:
        return None
    options.sort(key=lambda f: (f[0] is not None) + (f[1] is not None))        # prefer short descriptions
    return options[min(int(rng.integers(len(options))), int(rng.integers(len(options))))]


def related(objects, b: int, rel: str) -> list[int] | None:
    """Objects in relation `rel` to object b, or None when some object is within MARGIN px of the line."""
    _, axis, sign = RELATIONS[rel]
    out = []
    for i, o in enumerate(objects):
        if i == b:
            continue
        d = (o["centre"][axis] - objects[b]["centre"][axis]) * sign
        if abs(d) < MARGIN:
            return None
        if d > 0:
            out.append(i)
    return out


# ------------------------------------------------------------------ programs: kind -> slots, answer, hops, about

def yes_no(x: bool) -> str:
    return "yes" if x else "no"


def program_exist(rng, objects):
    f = random_filter(rng, objects)
    return f and ({"a": f}, yes_no(bool(selected(objects, f))), [selected(objects, f)] * 2, -1)


def program_query(rng, objects, attribute: str):
    i = int(rng.integers(len(objects)))
    f = describe(rng, objects, i, asked=attribute)
    return f and ({"a": f}, objects[i][attribute], [[i], [i]], i)


def program_count(rng, objects):
    f = random_filter(rng, objects)
    return f and ({"a": f}, str(len(selected(objects, f))), [selected(objects, f)] * 2, -1)


def program_relate(rng, objects, attribute: str):
    if len(objects) < 2:
        return None
    b, rel = int(rng.integers(len(objects))), pick(rng, list(RELATIONS))
    fb, candidates = describe(rng, objects, b), related(objects, b, rel)
    if not fb or not candidates:
        return None
    i = pick(rng, candidates)
    o = objects[i]
    category = pick(rng, [c for c, (ns, _) in CATEGORIES.items() if o["noun"] in ns
                          and (attribute == "color" or c not in NOUNS)])
    fa = (None, None if attribute == "color" or rng.random() < 0.7 else o["color"], category)
    if [j for j in candidates if matches(objects[j], fa)] != [i]:
        return None
    return {"a": fa, "b": fb, "r": RELATIONS[rel][0]}, o[attribute], [[b], [i]], i


def program_both(rng, objects):
    fa, fb = random_filter(rng, objects), random_filter(rng, objects)
    if not fa or not fb:
        return None
    sa, sb = selected(objects, fa), selected(objects, fb)
    return {"a": fa, "b": fb}, yes_no(bool(sa) and bool(sb)), [sa, sb], -1


def program_attr_pair(rng, objects):
    """'is there a red seven?': half the time true; else a colour and a noun that are both in the scene
    on different objects when possible (so one attribute alone cannot answer)."""
    o = pick(rng, objects)
    if rng.random() < 0.5:
        color, noun = o["color"], o["noun"]
    else:
        others = [p for p in objects if p["color"] != o["color"] and p["noun"] != o["noun"]]
        color = pick(rng, others)["color"] if others and rng.random() < 0.8 else pick(rng, COLORS)
        noun = o["noun"] if rng.random() < 0.8 else pick(rng, NOUNS)
    f = (None, color, noun)
    return {"c": (None, color, None), "n": (None, None, noun), "a": f}, yes_no(bool(selected(objects, f))), \
        [selected(objects, f)] * 2, -1


def program_not_exist(rng, objects):
    f = random_filter(rng, objects)
    return f and ({"a": f}, yes_no(not selected(objects, f)), [selected(objects, f)] * 2, -1)


def program_not_color(rng, objects):
    i = int(rng.integers(len(objects)))
    f = describe(rng, objects, i)
    color = objects[i]["color"] if rng.random() < 0.5 else pick(rng, COLORS)
    return f and ({"a": f, "c": (None, color, None)}, yes_no(objects[i]["color"] != color), [[i], [i]], i)


def program_count_not(rng, objects):
    color = pick(rng, objects)["color"] if rng.random() < 0.7 else pick(rng, COLORS)
    chosen = [i for i, o in enumerate(objects) if o["color"] != color]
    return {"c": (None, color, None)}, str(len(chosen)), [chosen] * 2, -1


def program_compare(rng, objects, kind: str):
    fa, fb = random_filter(rng, objects, present=True), random_filter(rng, objects)
    if not fa or not fb or fa[2] == fb[2] and fa[1] == fb[1]:
        return None
    na, nb = len(selected(objects, fa)), len(selected(objects, fb))
    answer = {"more": na > nb, "fewer": na < nb, "same": na == nb}[kind]
    return {"a": fa, "b": fb}, yes_no(answer), [selected(objects, fa), selected(objects, fb)], -1


def program_property(rng, objects):
    i = int(rng.integers(len(objects)))
    f = describe(rng, objects, i)
    p = pick(rng, list(PROPERTIES))
    return f and ({"a": f, "p": p}, yes_no(objects[i]["noun"] in CATEGORIES[p][0]), [[i], [i]], i)


def program_prior(rng, kind: str, template: str):
    if kind == "prior_parity":
        n = pick(rng, DIGITS)
        asks_odd = "odd" in template
        return {"n": (None, None, n)}, yes_no((n in ODD) == asks_odd)
    n = pick(rng, SHAPES)
    return {"n": (None, None, n)}, (SIDES[n] if kind == "prior_sides" else yes_no(n == "circle"))


PROGRAMS = {
    "exist": program_exist, "count": program_count, "both": program_both, "attr_pair": program_attr_pair,
    "not_exist": program_not_exist, "not_color": program_not_color, "count_not": program_count_not,
    "property": program_property,
    **{f"query_{a}": partial(program_query, attribute=a) for a in ("color", "noun", "size")},
    **{f"relate_{a}": partial(program_relate, attribute=a) for a in ("color", "noun")},
    **{k: partial(program_compare, kind=k) for k in COMPARISONS},
}


def fill(rng, template: str, slots: dict) -> str:
    words = {}
    for name, f in slots.items():
        if name in ("a", "b"):
            words[name], words[name + "s"] = phrase(rng, f), phrase(rng, f, plural=True)
        elif name == "c":
            words["c"] = pick(rng, COLOR_WORDS[f[1]])
        elif name == "n":
            words["n"] = f[2]
        elif name == "p":
            words["p"] = PROPERTIES[f]
        elif name == "r":
            words["r"] = f
    return re.sub(r"\ba ([aeiou])", r"an \1", template.format(**words))


def sample_question(rng, objects, kind: str, heldout_templates: bool = False,
                    heldout_pairs: bool = False, tries: int = 30, extra_templates: bool = False,
                    balanced: bool = False) -> Question | None:
    """One question of `kind` about the scene (None if none could be built). heldout_pairs=False
    (training): no filter names a held-out colour-noun pair. extra_templates (training only): the
    training templates plus TRAIN_EXTRA's. balanced (training only): a comparison's answer is drawn
    yes / no 50:50 first and programs are re-drawn until one gives it (left alone, "are there fewer X
    than Y?" is "no" 94 % of the time: X is always present, Y often not)."""
    train, test = TEMPLATES[kind]
    templates = test if heldout_templates else train + (TRAIN_EXTRA.get(kind, []) if extra_templates else [])
    want = yes_no(rng.random() < 0.5) if balanced and FAMILY[kind] == "comparison" else None
    for _ in range(tries):
        t = int(rng.integers(len(templates)))
        if kind.startswith("prior"):
            slots, answer = program_prior(rng, kind, templates[t])
            hops, about = [[], []], -1
        else:
            made = PROGRAMS[kind](rng, objects)
            if not made or want is not None and made[1] != want:
                continue
            slots, answer, hops, about = made
        if not heldout_pairs and any(isinstance(f, tuple) and mentions_heldout(f) for f in slots.values()):
            continue
        text = fill(rng, templates[t], slots)
        if extra_templates and rng.random() < LEAD_IN_SHARE:      # training only: words that change nothing
            text = pick(rng, LEAD_INS) + text
        return Question(text, answer, kind, t, heldout_templates, hops, about)
    return None


def sample_kind(rng, weights: dict = KIND_WEIGHTS) -> str:
    w = np.array([weights[k] for k in KINDS])
    return KINDS[int(rng.choice(len(KINDS), p=w / w.sum()))]


def questions_for(data: dict, per_scene: int, seed: int, heldout_templates: bool = False,
                  heldout_pairs: bool = False, kinds=None, distinct: int | None = None,
                  extra_templates: bool = False, balanced: bool = False,
                  kind_weights: dict = KIND_WEIGHTS) -> list[tuple[int, Question]]:
    """per_scene questions about every scene of scenes.build(...) data -> [(scene row, Question)].

    distinct: at most this many different question texts (each kind its share, by KIND_WEIGHTS); once a
    kind's share is used up, its questions reuse texts already asked (a few tries per question). Every
    text goes through the frozen MiniLM once, which is the slow part of training on this CPU.
    kind_weights: how often each kind is drawn (the evaluation keeps KIND_WEIGHTS; training may ask more
    of the hard kinds, TRAIN_KIND_WEIGHTS)."""
    rng = np.random.default_rng(seed)
    weights = {k: kind_weights[k] for k in (kinds or KINDS)}
    budget = {k: None if distinct is None else int(distinct * w / sum(weights.values())) for k, w in weights.items()}
    seen: dict[str, set] = {k: set() for k in weights}
    out = []
    for i in range(len(data["images"])):
        objects = scene_objects(data, i)
        for _ in range(per_scene):
            kind = sample_kind(rng, kind_weights) if kinds is None else pick(rng, kinds)
            for _ in range(1 if budget[kind] is None else 6):
                q = sample_question(rng, objects, kind, heldout_templates, heldout_pairs,
                                    extra_templates=extra_templates, balanced=balanced)
                if q is not None and (budget[kind] is None or q.text in seen[kind]
                                      or len(seen[kind]) < budget[kind]):
                    seen[kind].add(q.text)
                    out.append((i, q))
                    break
    return out
