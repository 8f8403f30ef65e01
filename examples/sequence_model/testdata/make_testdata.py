#!/usr/bin/env python3
"""Writes the tiny corpus the sequence_model smoke test trains on (CTest
example_sequence_model_smoke): three files in the Brown corpus' format, word/tag tokens,
one sentence per line, about 1,200 tokens made by a small grammar, so that a tiny LSTM
learns it in seconds and its perplexity visibly falls.

    python3 examples/sequence_model/testdata/make_testdata.py   (rewrites ca01 ca02 cb01)
"""
import os
import random

random.seed(7)
here = os.path.dirname(os.path.abspath(__file__))

determiners = [("The", "at"), ("A", "at"), ("This", "dt")]
nouns = [("jury", "nn"), ("city", "nn"), ("mayor", "nn"), ("report", "nn"), ("election", "nn")]
verbs = [("said", "vbd"), ("found", "vbd"), ("praised", "vbd"), ("questioned", "vbd")]
objects = [("the/at", "committee", "nn"), ("the/at", "vote", "nn"), ("its/pp$", "work", "nn")]
adverbs = [("today", "nr"), ("again", "rb"), ("quickly", "rb")]


def sentence():
    det, det_tag = random.choice(determiners)
    noun, noun_tag = random.choice(nouns)
    verb, verb_tag = random.choice(verbs)
    article, obj, obj_tag = random.choice(objects)
    words = [f"{det}/{det_tag}", f"{noun}/{noun_tag}", f"{verb}/{verb_tag}", article, f"{obj}/{obj_tag}"]
    if random.random() < 0.5:
        adverb, adverb_tag = random.choice(adverbs)
        words.append(f"{adverb}/{adverb_tag}")
    words.append("./.")
    return " ".join(words)


for name, count in [("ca01", 70), ("ca02", 50), ("cb01", 50)]:
    with open(os.path.join(here, name), "w") as out:
        for _ in range(count):
            out.write("\n\n\t" + sentence() + "\n")
