"""Small functions to write or to repair: a signature, how the goal describes it, a correct body, bugs.

Expected values are computed here by running the correct body (this module's own code, never the model's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: str
    describe: tuple[str, ...]  # ways to say what it does ("{f}" is the signature)
    body: str  # the correct function, whole
    calls: tuple[tuple[Any, ...], ...]  # arguments to test it with
    bugs: tuple[str, ...] = ()  # wrong versions of `body`, each failing at least one call

    @property
    def signature(self) -> str:
        return f"{self.name}({self.params})"

    def results(self) -> list[Any]:
        return [self.run(self.body, args) for args in self.calls]

    def run(self, body: str, args: tuple[Any, ...]) -> Any:
        scope: dict[str, Any] = {}
        exec(body, scope)  # noqa: S102 - the spec's own code
        return scope[self.name](*args)


SPECS = (
    FunctionSpec("count_vowels", "text", (
        "{f} that returns how many vowels (a, e, i, o, u, any case) text has",
        "{f}, the number of vowels in text, upper or lower case"),
        "def count_vowels(text):\n    return sum(1 for ch in text.lower() if ch in 'aeiou')\n",
        (("Banana",), ("sky",), ("AEIOU and more",)),
        ("def count_vowels(text):\n    return sum(1 for ch in text if ch in 'aeiou')\n",)),
    FunctionSpec("clamp", "x, low, high", (
        "{f} that limits x to the range low..high",
        "{f} returning low when x < low, high when x > high, else x"),
        "def clamp(x, low, high):\n    return max(low, min(x, high))\n",
        ((5, 0, 10), (-3, 0, 10), (42, 0, 10)),
        ("def clamp(x, low, high):\n    return min(low, max(x, high))\n",)),
    FunctionSpec("is_leap_year", "year", (
        "{f} that says whether year is a leap year in the Gregorian calendar",
        "{f}: True for leap years (divisible by 4, except centuries not divisible by 400)"),
        "def is_leap_year(year):\n    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)\n",
        ((2024,), (1900,), (2000,), (2023,)),
        ("def is_leap_year(year):\n    return year % 4 == 0\n",)),
    FunctionSpec("to_kelvin", "celsius", (
        "{f} that converts degrees Celsius to kelvin",
        "{f} returning celsius + 273.15"),
        "def to_kelvin(celsius):\n    return celsius + 273.15\n",
        ((0,), (100,), (-40,)),
        ("def to_kelvin(celsius):\n    return celsius - 273.15\n",)),
    FunctionSpec("second_largest", "numbers", (
        "{f} that returns the second largest distinct value of a list",
        "{f}: the biggest number that is smaller than the maximum"),
        "def second_largest(numbers):\n    return sorted(set(numbers))[-2]\n",
        (([4, 9, 2, 9],), ([1, 2],), ([7, 3, 5],)),
        ("def second_largest(numbers):\n    return sorted(numbers)[-2]\n",)),
    FunctionSpec("initials", "name", (
        "{f} that turns a full name into its initials with dots, e.g. 'Mira Novak' -> 'M.N.'",
        "{f} returning the first letter of each word, upper case, each followed by a dot"),
        "def initials(name):\n    return ''.join(word[0].upper() + '.' for word in name.split())\n",
        (("Mira Novak",), ("ada byron king",), ("Kofi",)),
        ("def initials(name):\n    return '.'.join(word[0].upper() for word in name.split())\n",)),
    FunctionSpec("dedupe", "items", (
        "{f} that removes repeated items from a list, keeping the first of each in order",
        "{f}: the list without duplicates, in the order items first appear"),
        "def dedupe(items):\n    seen = []\n    for item in items:\n        if item not in seen:\n"
        "            seen.append(item)\n    return seen\n",
        (([3, 1, 3, 2, 1],), (["b", "a", "b"],), ([],)),
        ("def dedupe(items):\n    return sorted(set(items))\n",)),
    FunctionSpec("chunk", "items, size", (
        "{f} that splits a list into pieces of length size (the last one may be shorter)",
        "{f} returning consecutive slices of items, size elements each"),
        "def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items), size)]\n",
        (([1, 2, 3, 4, 5], 2), (["a", "b", "c"], 3), ([], 4)),
        ("def chunk(items, size):\n    return [items[i:i + size] for i in range(0, len(items) - 1, size)]\n",)),
    FunctionSpec("running_total", "numbers", (
        "{f} that returns the cumulative sums of a list, e.g. [1, 2, 3] -> [1, 3, 6]",
        "{f}: a list whose i-th value is the sum of numbers[0..i]"),
        "def running_total(numbers):\n    total, out = 0, []\n    for n in numbers:\n        total += n\n"
        "        out.append(total)\n    return out\n",
        (([1, 2, 3],), ([5, -5, 5],), ([],)),
        ("def running_total(numbers):\n    total, out = 0, []\n    for n in numbers:\n        out.append(total)\n"
         "        total += n\n    return out\n",)),
    FunctionSpec("is_anagram", "a, b", (
        "{f} that checks whether two words are anagrams, ignoring case and spaces",
        "{f}: True when a and b use the same letters the same number of times (case and spaces ignored)"),
        "def is_anagram(a, b):\n    clean = lambda s: sorted(s.replace(' ', '').lower())\n"
        "    return clean(a) == clean(b)\n",
        (("Listen", "Silent"), ("night", "thing"), ("cat", "cart"), ("aab", "abb")),
        ("def is_anagram(a, b):\n    return set(a.lower()) == set(b.lower())\n",)),
    FunctionSpec("hamming", "a, b", (
        "{f} that counts the positions where two equal-length strings differ",
        "{f}: the Hamming distance of strings a and b"),
        "def hamming(a, b):\n    return sum(1 for left, right in zip(a, b) if left != right)\n",
        (("karolin", "kathrin"), ("abc", "abc"), ("1011", "1001")),
        ("def hamming(a, b):\n    return sum(1 for left, right in zip(a, b) if left == right)\n",)),
    FunctionSpec("median", "numbers", (
        "{f} that returns the median of a non-empty list (the mean of the two middle values for even length)",
        "{f}: the middle value of the sorted list, or the average of the two middle ones"),
        "def median(numbers):\n    s = sorted(numbers)\n    mid = len(s) // 2\n"
        "    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2\n",
        (([3, 1, 2],), ([4, 1, 3, 2],), ([7],)),
        ("def median(numbers):\n    return numbers[len(numbers) // 2]\n",)),
    FunctionSpec("title_words", "text", (
        "{f} that capitalizes the first letter of every word and lower-cases the rest",
        "{f} returning text with each word capitalized"),
        "def title_words(text):\n    return ' '.join(word.capitalize() for word in text.split())\n",
        (("hello wide WORLD",), ("a",), ("rain in porto",)),
        ("def title_words(text):\n    return text.capitalize()\n",)),
    FunctionSpec("triangle_kind", "a, b, c", (
        "{f} that returns 'equilateral', 'isosceles' or 'scalene' for three side lengths",
        "{f}: names the triangle by how many sides are equal (equilateral, isosceles, scalene)"),
        "def triangle_kind(a, b, c):\n    sides = len({a, b, c})\n"
        "    return {1: 'equilateral', 2: 'isosceles', 3: 'scalene'}[sides]\n",
        ((3, 3, 3), (3, 4, 3), (3, 4, 5)),
        ("def triangle_kind(a, b, c):\n    if a == b == c:\n        return 'equilateral'\n    if a == b:\n"
         "        return 'isosceles'\n    return 'scalene'\n",)),
    FunctionSpec("safe_divide", "a, b", (
        "{f} that returns a / b, or None when b is 0",
        "{f}: division that gives None instead of failing on a zero divisor"),
        "def safe_divide(a, b):\n    if b == 0:\n        return None\n    return a / b\n",
        ((6, 3), (1, 0), (7, 2)),
        ("def safe_divide(a, b):\n    if a == 0:\n        return None\n    return a / b\n",)),
    FunctionSpec("caesar", "text, shift", (
        "{f} that shifts every lower-case letter of text by shift places in the alphabet (wrapping z to a); "
        "other characters stay",
        "{f}: a Caesar cipher on the letters a-z, leaving everything else unchanged"),
        "def caesar(text, shift):\n"
        "    return ''.join(chr((ord(ch) - 97 + shift) % 26 + 97) if 'a' <= ch <= 'z' else ch\n"
        "                   for ch in text)\n",
        (("abc", 1), ("xyz", 3), ("hi there!", 13)),
        ("def caesar(text, shift):\n"
         "    return ''.join(chr(ord(ch) + shift) if 'a' <= ch <= 'z' else ch for ch in text)\n",)),
    FunctionSpec("long_words", "text, n", (
        "{f} that returns the words of text longer than n letters, in order",
        "{f}: the list of words in text with more than n characters"),
        "def long_words(text, n):\n    return [word for word in text.split() if len(word) > n]\n",
        (("the quick brown fox", 3), ("a bb ccc", 2), ("", 1)),
        ("def long_words(text, n):\n    return [word for word in text.split() if len(word) >= n]\n",)),
    FunctionSpec("percent_change", "old, new", (
        "{f} that returns the change from old to new in percent, rounded to one decimal",
        "{f}: (new - old) / old * 100, rounded to 1 decimal place"),
        "def percent_change(old, new):\n    return round((new - old) / old * 100, 1)\n",
        ((50, 75), (200, 150), (8, 9)),
        ("def percent_change(old, new):\n    return round((new - old) / new * 100, 1)\n",)),
    FunctionSpec("minutes_to_clock", "minutes", (
        "{f} that formats a number of minutes as H:MM, e.g. 135 -> '2:15'",
        "{f} returning hours and minutes as a string 'H:MM' with two-digit minutes"),
        "def minutes_to_clock(minutes):\n    return f'{minutes // 60}:{minutes % 60:02d}'\n",
        ((135,), (59,), (600,)),
        ("def minutes_to_clock(minutes):\n    return f'{minutes // 60}:{minutes % 60}'\n",)),
    FunctionSpec("strip_vowels", "text", (
        "{f} that removes the vowels a, e, i, o, u (either case) from text",
        "{f}: text without any vowels"),
        "def strip_vowels(text):\n    return ''.join(ch for ch in text if ch.lower() not in 'aeiou')\n",
        (("Porto",), ("queue",), ("rhythm",), ("OAK tree",)),
        ("def strip_vowels(text):\n    return ''.join(ch for ch in text if ch not in 'aeiou')\n",)),
    FunctionSpec("even_squares", "numbers", (
        "{f} that returns the squares of the even numbers of a list, in order",
        "{f}: [n * n for every even n in numbers]"),
        "def even_squares(numbers):\n    return [n * n for n in numbers if n % 2 == 0]\n",
        (([1, 2, 3, 4],), ([5, 7],), ([0, -2],)),
        ("def even_squares(numbers):\n    return [n * n for n in numbers if n % 2 == 1]\n",)),
    FunctionSpec("max_gap", "numbers", (
        "{f} that returns the largest difference between neighbours once the list is sorted",
        "{f}: sort the numbers, then the biggest step between consecutive values"),
        "def max_gap(numbers):\n    s = sorted(numbers)\n    return max(b - a for a, b in zip(s, s[1:]))\n",
        (([1, 9, 3],), ([10, 11],), ([5, 1, 20, 8],)),
        ("def max_gap(numbers):\n    return max(b - a for a, b in zip(numbers, numbers[1:]))\n",)),
    FunctionSpec("nth_word", "text, n", (
        "{f} that returns the n-th word of text, counting from 1",
        "{f}: the word at position n (1-based) of text"),
        "def nth_word(text, n):\n    return text.split()[n - 1]\n",
        (("one two three", 2), ("alpha", 1), ("a b c d", 4)),
        ("def nth_word(text, n):\n    return text.split()[n]\n",)),
    FunctionSpec("mean_word_length", "text", (
        "{f} that returns the average word length of text, rounded to two decimals",
        "{f}: the mean number of letters per word, to 2 decimals"),
        "def mean_word_length(text):\n    words = text.split()\n"
        "    return round(sum(len(w) for w in words) / len(words), 2)\n",
        (("big cats nap",), ("a bb",), ("seventeen",)),
        ("def mean_word_length(text):\n    words = text.split()\n    return round(len(text) / len(words), 2)\n",)),
)
