"""Hostile Wolfram text for the parser's fuzz test (tests/test_syntax_fuzz.py) and the longer
run in benchmarks/fuzz_parse.py: token soups over the whole operator table, mutations of real
inputs, raw junk, and the number forms that once hung or crashed the reader (issue 12)."""

from __future__ import annotations

import random

from syntax_corpus import BAD_INPUTS, CORPUS, OPERATOR_CORPUS

from wlbridge.syntax.optable import INFIX, POSTFIX, PREFIX

OPS = sorted(set(INFIX) | set(PREFIX) | set(POSTFIX))
PUNCT = ["(", ")", "[", "]", "[[", "]]", "{", "}", "<|", "|>", ",", ":", "(*", "*)", "\\"]
NUMBERS = ["0", "1", "-3", "1.5", ".5", "1.", "1.5*^-3", "1*^-3", "2^^1011", "36^^zz",
           "3.14`20", "1.5``3", "0.30000000000000004`", "1.23456789012345678", "1.0*^400",
           "1*^999999999", "1*^-999999999", "12345678901.5*^-31234567891234567890",
           "12345678901234567*^8901234567890", "1" * 4301, "9" * 120, "37^^1", "2^^2",
           "1.5`99999999999999999999", "1*^" + "9" * 30, "0``5", "2^^1.1*^-9999",
           "%" + "1" * 4400, "#" + "2" * 4400, "##" + "3" * 4400, "1" * 4400 + "^^1",
           "1*^" + "0" * 5000 + "1", "0" * 5000 + "1", "0." + "0" * 5000 + "1",
           "2^^10111.0*^4003", "2^^1.0*^-2000", "36^^z.z*^-999"]
ATOMS = ["x", "$x", "a`b", "`c", "System`Print", "True", "Null", "None", "Infinity", "x_",
         "_", "x__h", "x___", "_.", "x_.", "#", "#2", "##", "#name", "%", "%%", "%3",
         '"s"', '""', '"a\\"b"', '"\\[Alpha]"', '"\\:03b1"', '"\\q"', '"\\[Nope]"',
         "\\[Alpha]", "\\:00c0x", "\\[Rule]", "\\[Element]", "\u00c0", "\u03c0", "\ue000",
         "\ue0000\ue001", "\u1d40", "NumericArray", '"Real32"', '"Integer8"',
         "NumericArray[{1., 2.}, \"Real32\"]", "NumericArray[{{1, 2}, {3}}, \"Integer8\"]",
         "NumericArray[{f[1, 2]}, \"Real32\"]", "NumericArray[{1*^40}, \"Real32\"]",
         "NumericArray[{Indeterminate, DirectedInfinity[-1]}, \"Real64\"]",
         "NumericArray[{Complex[1., 2.]}, \"ComplexReal32\"]", "ByteArray[\"AQID\"]"]
SPACE = [" ", "", "", "\n", "\t", " (* c *) ", "(* (* n *) *)"]
SEEDS = [s for s, _ in CORPUS] + OPERATOR_CORPUS + BAD_INPUTS


def token_soup(rng: random.Random) -> str:
    n = rng.randint(1, 24)
    parts = []
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            parts.append(rng.choice(OPS))
        elif r < 0.5:
            parts.append(rng.choice(PUNCT))
        elif r < 0.65:
            parts.append(rng.choice(NUMBERS))
        else:
            parts.append(rng.choice(ATOMS))
        parts.append(rng.choice(SPACE))
    return "".join(parts)


def mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randrange(len(chars) + 1)
        if op < 0.3 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op < 0.6:
            chars.insert(i, rng.choice(OPS + PUNCT + ["x", "1", '"', "_", "#", "`"]))
        elif op < 0.8 and chars:
            j = rng.randrange(len(chars))
            k = min(i, len(chars) - 1)
            chars[j], chars[k] = chars[k], chars[j]
        else:
            chars[i:i] = list(text[: rng.randrange(len(text) + 1)])
    return "".join(chars)


def junk(rng: random.Random) -> str:
    n = rng.randint(0, 30)
    if rng.random() < 0.5:
        return "".join(chr(rng.randrange(32, 127)) for _ in range(n))
    return "".join(chr(rng.choice([rng.randrange(0, 0x250), rng.randrange(0xE000, 0xF900),
                                   rng.randrange(0x2000, 0x2C00)])) for _ in range(n))


def nested(rng: random.Random) -> str:
    """Deep or long shapes: chains, nesting near the depth limit, repeated prefixes."""
    unit = rng.choice(["a -> ", "-", "- ", "!", "f[", "{", "(", "a + ", "a;", "x_?", "f@",
                       "a /. ", "#&", "a'", "a[[1]]", "<|a -> ", "a ~f~ "])
    n = rng.choice([3, 10, 50, 255, 256, 257]) if rng.random() < 0.97 else 2000
    return unit * n + rng.choice(["x", "", "1", "]" * n, "}" * n, ")" * n])


def inputs(seed: int, count: int):
    """``count`` deterministic hostile inputs for ``seed``."""
    rng = random.Random(seed)
    makers = [token_soup, token_soup, token_soup, junk, junk, nested]
    for _ in range(count):
        r = rng.random()
        if r < 0.45:
            yield mutate(rng, rng.choice(SEEDS))
        elif r < 0.97:
            yield rng.choice(makers)(rng)
        else:
            yield rng.choice(NUMBERS) + rng.choice(["", "]", " x", ", 1"])
