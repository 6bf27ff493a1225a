"""More small functions to write or repair, beside functions.SPECS: string, list, arithmetic and dict helpers.

Same format as `functions.SPECS`; expected values come from running each spec's own correct body.
"""

from __future__ import annotations

from agent.tune.families.functions import FunctionSpec

MORE_SPECS: tuple[FunctionSpec, ...] = (
    # -- strings ----------------------------------------------------------------------------------------
    FunctionSpec("snake_to_camel", "name", (
        "{f} that turns a snake_case name into camelCase, e.g. 'user_id' -> 'userId'",
        "{f} returning name with the underscores removed and every part after the first capitalized"),
        "def snake_to_camel(name):\n    first, *rest = name.split('_')\n"
        "    return first + ''.join(part.capitalize() for part in rest)\n",
        (("hello_big_world",), ("user_id",), ("plain",)),
        ("def snake_to_camel(name):\n    return ''.join(part.capitalize() for part in name.split('_'))\n",
         "def snake_to_camel(name):\n    first, *rest = name.split('_')\n"
         "    return first + ''.join(part.upper() for part in rest)\n")),
    FunctionSpec("camel_to_snake", "name", (
        "{f} that converts a camelCase name to snake_case, e.g. 'userId' -> 'user_id'",
        "{f}: put an underscore before each capital letter of name and lower-case it"),
        "def camel_to_snake(name):\n    return ''.join('_' + ch.lower() if ch.isupper() else ch for ch in name)\n",
        (("helloBigWorld",), ("userId",), ("plain",)),
        ("def camel_to_snake(name):\n    return ''.join('_' + ch if ch.isupper() else ch for ch in name)\n",)),
    FunctionSpec("repeat_chars", "text, n", (
        "{f} that repeats every character of text n times in place, e.g. ('ab', 2) -> 'aabb'",
        "{f} returning text where each character appears n times in a row"),
        "def repeat_chars(text, n):\n    return ''.join(ch * n for ch in text)\n",
        (("abc", 2), ("hi!", 3), ("", 5)),
        ("def repeat_chars(text, n):\n    return text * n\n",)),
    FunctionSpec("run_length_encode", "text", (
        "{f} that writes each run of equal characters as the character and the run length, e.g. 'aaab' -> 'a3b1'",
        "{f}: a run-length encoding of text where every run becomes char + count"),
        "def run_length_encode(text):\n    from itertools import groupby\n"
        "    return ''.join(f'{ch}{len(list(group))}' for ch, group in groupby(text))\n",
        (("aaabcc",), ("abc",), ("aabaa",), ("",)),
        ("def run_length_encode(text):\n    from itertools import groupby\n"
         "    return ''.join(f'{ch}{text.count(ch)}' for ch, group in groupby(text))\n",)),
    FunctionSpec("run_length_decode", "code", (
        "{f} that expands pairs of a letter and a single digit count, e.g. 'a3b1' -> 'aaab'",
        "{f} returning the text that a letter-then-digit run-length code stands for"),
        "def run_length_decode(code):\n"
        "    return ''.join(code[i] * int(code[i + 1]) for i in range(0, len(code), 2))\n",
        (("a3b1c2",), ("x5",), ("",), ("m1n2o3",)),
        ("def run_length_decode(code):\n"
         "    return ''.join(code[i] * int(code[i + 1]) for i in range(0, len(code) - 2, 2))\n",)),
    FunctionSpec("mask_card", "number", (
        "{f} that hides all but the last four digits of a card number string with '*'",
        "{f}: the number string with every character except the final 4 replaced by an asterisk"),
        "def mask_card(number):\n    return '*' * (len(number) - 4) + number[-4:]\n",
        (("4111222233334444",), ("12345",), ("9876",)),
        ("def mask_card(number):\n    return '*' * (len(number) - 4) + number[-3:]\n",
         "def mask_card(number):\n    return '*' * (len(number) - 4) + number[4:]\n")),
    FunctionSpec("truncate_text", "text, width", (
        "{f} that shortens text to at most width characters and ends it with '...' when it had to cut",
        "{f} returning text unchanged if it fits in width characters, else its start plus '...' (width in total)"),
        "def truncate_text(text, width):\n    if len(text) <= width:\n        return text\n"
        "    return text[:width - 3] + '...'\n",
        (("hello world", 8), ("short", 10), ("exactly", 7)),
        ("def truncate_text(text, width):\n    if len(text) <= width:\n        return text\n"
         "    return text[:width] + '...'\n",
         "def truncate_text(text, width):\n    if len(text) < width:\n        return text\n"
         "    return text[:width - 3] + '...'\n")),
    FunctionSpec("left_pad", "text, width, fill", (
        "{f} that adds the fill character in front of text until it is width characters long",
        "{f}: text right-aligned to width using fill on the left (text is kept whole if already longer)"),
        "def left_pad(text, width, fill):\n    return fill * (width - len(text)) + text\n",
        (("42", 5, "0"), ("abc", 2, "*"), ("x", 4, "-")),
        ("def left_pad(text, width, fill):\n    return fill * width + text\n",
         "def left_pad(text, width, fill):\n    return text + fill * (width - len(text))\n")),
    FunctionSpec("is_pangram", "text", (
        "{f} that says whether text uses every letter from a to z at least once, in any case",
        "{f}: True when all 26 letters of the alphabet occur in text (upper or lower case)"),
        "def is_pangram(text):\n    return set('abcdefghijklmnopqrstuvwxyz') <= set(text.lower())\n",
        (("The quick brown fox jumps over the lazy dog",), ("Hello world",), ("abcdefghijklmnopqrstuvwxyZ",)),
        ("def is_pangram(text):\n    return set('abcdefghijklmnopqrstuvwxyz') <= set(text)\n",
         "def is_pangram(text):\n    return set(text.lower()) <= set('abcdefghijklmnopqrstuvwxyz')\n")),
    FunctionSpec("swap_halves", "text", (
        "{f} that moves the second half of text to the front (for odd lengths the first half is the shorter)",
        "{f} returning text[len // 2:] followed by text[:len // 2]"),
        "def swap_halves(text):\n    mid = len(text) // 2\n    return text[mid:] + text[:mid]\n",
        (("abcdef",), ("abcde",), ("xy",)),
        ("def swap_halves(text):\n    mid = (len(text) + 1) // 2\n    return text[mid:] + text[:mid]\n",)),
    FunctionSpec("strip_digits", "text", (
        "{f} that removes every digit 0-9 from text and keeps the rest",
        "{f}: text without its digits"),
        "def strip_digits(text):\n    return ''.join(ch for ch in text if not ch.isdigit())\n",
        (("room 101",), ("a1b2c3",), ("no digits",), ("2024-09",)),
        ("def strip_digits(text):\n    return ''.join(ch for ch in text if ch not in '012345678')\n",)),
    FunctionSpec("word_lengths", "text", (
        "{f} that returns the length of each whitespace-separated word of text, in order",
        "{f}: a list with how many characters every word in text has"),
        "def word_lengths(text):\n    return [len(word) for word in text.split()]\n",
        (("the cat sat",), ("one  two",), ("",)),
        ("def word_lengths(text):\n    return [len(word) for word in text.split(' ')]\n",)),
    FunctionSpec("alternate_case", "text", (
        "{f} that upper-cases the characters at even positions and lower-cases those at odd positions",
        "{f} returning text in alternating case starting with a capital, e.g. 'hello' -> 'HeLlO'"),
        "def alternate_case(text):\n"
        "    return ''.join(ch.upper() if i % 2 == 0 else ch.lower() for i, ch in enumerate(text))\n",
        (("hello",), ("PYTHON",), ("a b c",)),
        ("def alternate_case(text):\n"
         "    return ''.join(ch.upper() if i % 2 == 1 else ch.lower() for i, ch in enumerate(text))\n",
         "def alternate_case(text):\n"
         "    return ''.join(ch.upper() if i % 2 == 0 else ch for i, ch in enumerate(text))\n")),
    FunctionSpec("collapse_spaces", "text", (
        "{f} that squeezes every run of whitespace into one space and trims both ends",
        "{f}: text with single spaces between its words and none at the start or end"),
        "def collapse_spaces(text):\n    return ' '.join(text.split())\n",
        (("too   many    spaces",), ("  padded  ",), ("fine",)),
        ("def collapse_spaces(text):\n    return text.replace('  ', ' ')\n",)),
    FunctionSpec("first_repeated_char", "text", (
        "{f} that returns the first character of text that has already appeared before it, or None",
        "{f}: scanning left to right, the first character seen a second time (None if no character repeats)"),
        "def first_repeated_char(text):\n    seen = set()\n    for ch in text:\n        if ch in seen:\n"
        "            return ch\n        seen.add(ch)\n    return None\n",
        (("abcba",), ("swiss",), ("abc",)),
        ("def first_repeated_char(text):\n    seen = set()\n    for ch in text:\n        if ch in seen:\n"
         "            return ch\n    return None\n",
         "def first_repeated_char(text):\n    seen = set()\n    for ch in text:\n        seen.add(ch)\n"
         "        if ch in seen:\n            return ch\n    return None\n")),
    FunctionSpec("first_unique_char", "text", (
        "{f} that returns the first character occurring exactly once in text, or None if there is none",
        "{f}: the earliest character of text that is not repeated anywhere (None when every one repeats)"),
        "def first_unique_char(text):\n    for ch in text:\n        if text.count(ch) == 1:\n            return ch\n"
        "    return None\n",
        (("swiss",), ("aabbc",), ("aabb",)),
        ("def first_unique_char(text):\n    for ch in text:\n        if text.count(ch) > 1:\n            return ch\n"
         "    return None\n",
         "def first_unique_char(text):\n    for ch in text:\n        if text.count(ch) == 1:\n            return ch\n"
         "    return ''\n")),
    FunctionSpec("common_prefix", "a, b", (
        "{f} that returns the longest start the strings a and b share",
        "{f}: the common leading part of a and b ('' when their first characters differ)"),
        "def common_prefix(a, b):\n    n = 0\n    while n < min(len(a), len(b)) and a[n] == b[n]:\n        n += 1\n"
        "    return a[:n]\n",
        (("flower", "flow"), ("dog", "cat"), ("same", "same"), ("interstellar", "internet")),
        ("def common_prefix(a, b):\n    n = 0\n    while n < len(a) and a[n] == b[n]:\n        n += 1\n"
         "    return a[:n]\n",
         "def common_prefix(a, b):\n    n = 0\n    while n < min(len(a), len(b)) and a[n] == b[n]:\n        n += 1\n"
         "    return a[:n + 1]\n")),
    FunctionSpec("wrap_in_tag", "text, tag", (
        "{f} that surrounds text with an opening and a closing HTML tag, e.g. ('hi', 'b') -> '<b>hi</b>'",
        "{f} returning '<tag>' + text + '</tag>' for the given tag name"),
        "def wrap_in_tag(text, tag):\n    return f'<{tag}>{text}</{tag}>'\n",
        (("hi", "b"), ("Title", "h1"), ("", "p")),
        ("def wrap_in_tag(text, tag):\n    return f'<{tag}>{text}<{tag}>'\n",)),
    FunctionSpec("alphabet_positions", "word", (
        "{f} that maps each letter of word to its place in the alphabet (a=1 ... z=26) and skips non-letters",
        "{f}: the list of 1-based alphabet positions of the letters in word, case ignored"),
        "def alphabet_positions(word):\n    return [ord(ch) - ord('a') + 1 for ch in word.lower() if ch.isalpha()]\n",
        (("cab",), ("Zoe",), ("a-b c",)),
        ("def alphabet_positions(word):\n    return [ord(ch) - ord('a') for ch in word.lower() if ch.isalpha()]\n",
         "def alphabet_positions(word):\n    return [ord(ch) - ord('a') + 1 for ch in word if ch.isalpha()]\n")),
    FunctionSpec("file_extension", "filename", (
        "{f} that returns the part of filename after its last dot, or '' when there is no dot",
        "{f}: the extension of a file name without the dot ('' if it has none)"),
        "def file_extension(filename):\n    if '.' not in filename:\n        return ''\n"
        "    return filename.rsplit('.', 1)[1]\n",
        (("report.pdf",), ("archive.tar.gz",), ("README",)),
        ("def file_extension(filename):\n    if '.' not in filename:\n        return ''\n"
         "    return filename.split('.')[1]\n",
         "def file_extension(filename):\n    return filename.rsplit('.', 1)[1]\n")),
    FunctionSpec("email_domain", "email", (
        "{f} that returns the lower-cased domain part of an e-mail address (what follows the @)",
        "{f} returning everything after '@' in email, in lower case"),
        "def email_domain(email):\n    return email.split('@')[1].lower()\n",
        (("ana@Example.com",), ("bo.li@mail.server.org",), ("X@Y.NET",)),
        ("def email_domain(email):\n    return email.split('@')[0].lower()\n",
         "def email_domain(email):\n    return email.split('@')[1]\n")),
    FunctionSpec("group_thousands", "n", (
        "{f} that writes a non-negative integer with commas between groups of three digits, e.g. 1234567 -> "
        "'1,234,567'",
        "{f}: the digits of n as a string with a thousands separator ','"),
        "def group_thousands(n):\n    s, parts = str(n), []\n    while len(s) > 3:\n        parts.insert(0, s[-3:])\n"
        "        s = s[:-3]\n    return ','.join([s] + parts)\n",
        ((1234567,), (999,), (1000,), (12,)),
        ("def group_thousands(n):\n    s, parts = str(n), []\n    while len(s) >= 3:\n        parts.insert(0, s[-3:])\n"
         "        s = s[:-3]\n    return ','.join([s] + parts)\n",
         "def group_thousands(n):\n    s, parts = str(n), []\n    while len(s) > 3:\n        parts.append(s[-3:])\n"
         "        s = s[:-3]\n    return ','.join([s] + parts)\n")),
    FunctionSpec("pig_latin", "word", (
        "{f} that turns a lower-case word into Pig Latin: a word starting with a vowel gets 'way' added; "
        "otherwise its first letter moves to the end followed by 'ay'",
        "{f}: 'apple' -> 'appleway' and 'hello' -> 'ellohay'"),
        "def pig_latin(word):\n    if word[0] in 'aeiou':\n        return word + 'way'\n"
        "    return word[1:] + word[0] + 'ay'\n",
        (("apple",), ("hello",), ("idea",), ("tree",)),
        ("def pig_latin(word):\n    if word[0] in 'aeiou':\n        return word + 'way'\n"
         "    return word[1:] + 'ay'\n",)),
    FunctionSpec("count_digit_chars", "text", (
        "{f} that counts how many characters of text are digits",
        "{f}: the number of 0-9 characters inside text"),
        "def count_digit_chars(text):\n    return sum(ch.isdigit() for ch in text)\n",
        (("abc123",), ("no digits",), ("2024-09-30",)),
        ("def count_digit_chars(text):\n    return sum(ch.isalnum() for ch in text)\n",)),
    FunctionSpec("censor_word", "text, word", (
        "{f} that replaces every occurrence of word in text with as many asterisks as word has letters",
        "{f} returning text where word is blanked out by '*' characters of the same length"),
        "def censor_word(text, word):\n    return text.replace(word, '*' * len(word))\n",
        (("this darn thing is darn slow", "darn"), ("nothing here", "bad"), ("oops", "oops")),
        ("def censor_word(text, word):\n    return text.replace(word, '*' * 3)\n",)),
    FunctionSpec("text_between", "text, start, end", (
        "{f} that returns the text found after the first start marker and before the next end marker",
        "{f}: the substring of text enclosed by the markers start and end (the first such pair)"),
        "def text_between(text, start, end):\n    i = text.index(start) + len(start)\n"
        "    return text[i:text.index(end, i)]\n",
        (("say [[hello]] now", "[[", "]]"), ("<<a>> <<b>>", "<<", ">>"), ("key=value;", "=", ";"),
         ("x) (inside)", "(", ")")),
        ("def text_between(text, start, end):\n    i = text.index(start) + 1\n"
         "    return text[i:text.index(end, i)]\n",
         "def text_between(text, start, end):\n    i = text.index(start) + len(start)\n"
         "    return text[i:text.index(end)]\n")),
    FunctionSpec("ordinal_suffix", "n", (
        "{f} that writes a positive integer as an English ordinal such as '1st', '12th', '23rd'",
        "{f}: str(n) plus 'st', 'nd', 'rd' or 'th' (11 to 13 always take 'th')"),
        "def ordinal_suffix(n):\n    if 10 <= n % 100 <= 20:\n        return f'{n}th'\n"
        "    return str(n) + {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')\n",
        ((1,), (12,), (23,), (104,)),
        ("def ordinal_suffix(n):\n    return str(n) + {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')\n",
         "def ordinal_suffix(n):\n    if 10 <= n % 100 <= 20:\n        return f'{n}th'\n"
         "    return str(n) + {1: 'st', 2: 'nd', 3: 'rd'}.get(n, 'th')\n")),
    FunctionSpec("join_with_and", "items", (
        "{f} that joins a non-empty list of strings as English, e.g. ['a', 'b', 'c'] -> 'a, b and c'",
        "{f}: the items separated by ', ' except the last two which are joined by ' and '"),
        "def join_with_and(items):\n    if len(items) == 1:\n        return items[0]\n"
        "    return ', '.join(items[:-1]) + ' and ' + items[-1]\n",
        ((["tea"],), (["tea", "milk"],), (["red", "green", "blue"],)),
        ("def join_with_and(items):\n    if len(items) == 1:\n        return items[0]\n"
         "    return ', '.join(items[:-2]) + ' and ' + items[-1]\n",
         "def join_with_and(items):\n    return ', '.join(items[:-1]) + ' and ' + items[-1]\n")),
    FunctionSpec("is_integer_string", "text", (
        "{f} that tells whether text is a whole number written in digits, optionally with a leading '-'",
        "{f}: True for strings like '42' or '-7' and False for '4.5', '-' or ''"),
        "def is_integer_string(text):\n    if text.startswith('-'):\n        text = text[1:]\n"
        "    return text.isdigit()\n",
        (("123",), ("-45",), ("4.5",), ("-",)),
        ("def is_integer_string(text):\n    return text.isdigit()\n",)),
    FunctionSpec("strip_punctuation", "text", (
        "{f} that keeps only the letters, digits and whitespace of text",
        "{f}: text with every punctuation mark or symbol removed"),
        "def strip_punctuation(text):\n    return ''.join(ch for ch in text if ch.isalnum() or ch.isspace())\n",
        (("Hello, world!",), ("it's 5 o'clock",), ("no-dash...",)),
        ("def strip_punctuation(text):\n    return ''.join(ch for ch in text if ch.isalpha() or ch.isspace())\n",
         "def strip_punctuation(text):\n    return ''.join(ch for ch in text if ch.isalnum())\n")),
    FunctionSpec("interleave_strings", "a, b", (
        "{f} that alternates the characters of a and b and appends what is left of the longer one",
        "{f}: 'abc' and '12' give 'a1b2c'"),
        "def interleave_strings(a, b):\n    mixed = ''.join(ca + cb for ca, cb in zip(a, b))\n"
        "    n = min(len(a), len(b))\n    return mixed + a[n:] + b[n:]\n",
        (("abc", "12"), ("ab", "wxyz"), ("", "q")),
        ("def interleave_strings(a, b):\n    mixed = ''.join(ca + cb for ca, cb in zip(a, b))\n"
         "    n = min(len(a), len(b))\n    return mixed + a[n:]\n",)),
    FunctionSpec("time_to_seconds", "clock", (
        "{f} that converts a time written 'H:MM:SS' into a number of seconds",
        "{f}: hours * 3600 + minutes * 60 + seconds for a clock string like '1:02:03'"),
        "def time_to_seconds(clock):\n    h, m, s = (int(part) for part in clock.split(':'))\n"
        "    return h * 3600 + m * 60 + s\n",
        (("01:02:03",), ("0:00:59",), ("10:30:00",)),
        ("def time_to_seconds(clock):\n    h, m, s = (int(part) for part in clock.split(':'))\n"
         "    return h * 60 + m * 60 + s\n",)),
    # -- lists and numbers ------------------------------------------------------------------------------
    FunctionSpec("pairwise_diffs", "numbers", (
        "{f} that returns how much each number changed from the one before it, e.g. [1, 4, 9] -> [3, 5]",
        "{f}: the list of numbers[i + 1] - numbers[i]"),
        "def pairwise_diffs(numbers):\n    return [b - a for a, b in zip(numbers, numbers[1:])]\n",
        (([1, 4, 9, 16],), ([5, 3],), ([7],)),
        ("def pairwise_diffs(numbers):\n    return [a - b for a, b in zip(numbers, numbers[1:])]\n",)),
    FunctionSpec("count_above", "numbers, limit", (
        "{f} that counts the numbers strictly greater than limit",
        "{f}: how many values of the list exceed limit"),
        "def count_above(numbers, limit):\n    return sum(1 for n in numbers if n > limit)\n",
        (([1, 5, 8, 5], 5), ([], 0), ([-3, -1, 2], -2)),
        ("def count_above(numbers, limit):\n    return sum(1 for n in numbers if n >= limit)\n",)),
    FunctionSpec("partition_parity", "numbers", (
        "{f} that splits a list of integers into [evens, odds], keeping the original order inside each",
        "{f}: a two-element list holding first the even numbers and then the odd ones"),
        "def partition_parity(numbers):\n    evens = [n for n in numbers if n % 2 == 0]\n"
        "    odds = [n for n in numbers if n % 2 != 0]\n    return [evens, odds]\n",
        (([1, 2, 3, 4, 5],), ([2, 4],), ([],), ([-3, 0, 7],)),
        ("def partition_parity(numbers):\n    evens = [n for n in numbers if n % 2 == 0]\n"
         "    odds = [n for n in numbers if n % 2 != 0]\n    return [odds, evens]\n",)),
    FunctionSpec("every_nth", "items, n", (
        "{f} that returns the items at positions n, 2n, 3n and so on, counting from 1",
        "{f}: every n-th element of items starting with the n-th one"),
        "def every_nth(items, n):\n    return items[n - 1::n]\n",
        (([1, 2, 3, 4, 5, 6, 7], 3), (["a", "b", "c"], 1), ([1, 2], 5)),
        ("def every_nth(items, n):\n    return items[::n]\n",
         "def every_nth(items, n):\n    return items[n::n]\n")),
    FunctionSpec("merge_sorted", "a, b", (
        "{f} that combines two sorted lists into one sorted list, keeping repeated values",
        "{f}: all elements of a and b together in ascending order"),
        "def merge_sorted(a, b):\n    return sorted(a + b)\n",
        (([1, 4, 9], [2, 3, 10]), ([], [5, 6]), ([1, 1], [1])),
        ("def merge_sorted(a, b):\n    return a + b\n",
         "def merge_sorted(a, b):\n    return sorted(set(a + b))\n")),
    FunctionSpec("subtract_list", "a, b", (
        "{f} that returns the elements of a that do not occur in b, in their original order",
        "{f}: list a with every value that appears in b taken out"),
        "def subtract_list(a, b):\n    return [x for x in a if x not in b]\n",
        (([1, 2, 3, 4, 2], [2, 4]), (["x", "y"], []), ([5, 6], [5, 6, 7])),
        ("def subtract_list(a, b):\n    return [x for x in b if x not in a]\n",)),
    FunctionSpec("count_in_range", "numbers, low, high", (
        "{f} that counts the numbers between low and high, both ends included",
        "{f}: how many n in numbers satisfy low <= n <= high"),
        "def count_in_range(numbers, low, high):\n    return sum(1 for n in numbers if low <= n <= high)\n",
        (([1, 5, 10, 15], 5, 10), ([3, 3, 3], 1, 2), ([-2, 0, 2], -2, 2)),
        ("def count_in_range(numbers, low, high):\n    return sum(1 for n in numbers if low <= n < high)\n",)),
    FunctionSpec("index_positions", "items, target", (
        "{f} that lists every index at which target occurs in items",
        "{f}: the 0-based positions of all elements equal to target"),
        "def index_positions(items, target):\n    return [i for i, item in enumerate(items) if item == target]\n",
        (([1, 2, 1, 3, 1], 1), (["a", "b"], "c"), (["x", "y", "x"], "x")),
        ("def index_positions(items, target):\n"
         "    return [i for i, item in enumerate(items, 1) if item == target]\n",)),
    FunctionSpec("zero_negatives", "numbers", (
        "{f} that replaces each negative number of the list by 0 and leaves the others alone",
        "{f}: a copy of numbers where values below zero become 0"),
        "def zero_negatives(numbers):\n    return [max(n, 0) for n in numbers]\n",
        (([3, -1, 0, -7, 2],), ([],), ([-5],)),
        ("def zero_negatives(numbers):\n    return [min(n, 0) for n in numbers]\n",
         "def zero_negatives(numbers):\n    return [abs(n) for n in numbers]\n")),
    FunctionSpec("count_sign_changes", "numbers", (
        "{f} that counts neighbouring pairs where one number is positive and the other negative",
        "{f}: how many times the sign flips between consecutive values (a zero never counts as a flip)"),
        "def count_sign_changes(numbers):\n    return sum(1 for a, b in zip(numbers, numbers[1:]) if a * b < 0)\n",
        (([1, -2, 3, 4, -5],), ([1, 0, -1],), ([2, 2, 2],)),
        ("def count_sign_changes(numbers):\n    return sum(1 for a, b in zip(numbers, numbers[1:]) if a * b <= 0)\n",)),
    FunctionSpec("longest_run", "items", (
        "{f} that returns the length of the longest stretch of equal neighbouring items (0 for an empty list)",
        "{f}: the size of the biggest block of consecutive identical values"),
        "def longest_run(items):\n    best = cur = 0\n    for i, item in enumerate(items):\n"
        "        cur = cur + 1 if i > 0 and item == items[i - 1] else 1\n        best = max(best, cur)\n"
        "    return best\n",
        (([1, 1, 2, 2, 2, 1],), (["a"],), ([],), ([5, 6, 7],)),
        ("def longest_run(items):\n    best = cur = 0\n    for i, item in enumerate(items):\n"
         "        cur = cur + 1 if i > 0 and item == items[i - 1] else 0\n        best = max(best, cur)\n"
         "    return best\n",
         "def longest_run(items):\n    best = cur = 1\n    for i, item in enumerate(items):\n"
         "        cur = cur + 1 if i > 0 and item == items[i - 1] else 1\n        best = max(best, cur)\n"
         "    return best\n")),
    FunctionSpec("rotate_list", "items, k", (
        "{f} that rotates a list k places to the left, e.g. ([1, 2, 3], 1) -> [2, 3, 1]; k may exceed the length",
        "{f}: items[k:] + items[:k] with k taken modulo the length ([] stays [])"),
        "def rotate_list(items, k):\n    if not items:\n        return []\n    k %= len(items)\n"
        "    return items[k:] + items[:k]\n",
        (([1, 2, 3, 4, 5], 2), (["a", "b", "c"], 4), ([], 3)),
        ("def rotate_list(items, k):\n    if not items:\n        return []\n    return items[k:] + items[:k]\n",
         "def rotate_list(items, k):\n    if not items:\n        return []\n    k %= len(items)\n"
         "    return items[-k:] + items[:-k]\n")),
    FunctionSpec("swap_pairs", "items", (
        "{f} that swaps each pair of neighbours, e.g. [1, 2, 3, 4, 5] -> [2, 1, 4, 3, 5]",
        "{f}: a new list where elements 0 and 1 trade places, then 2 and 3, and so on"),
        "def swap_pairs(items):\n    out = list(items)\n    for i in range(0, len(out) - 1, 2):\n"
        "        out[i], out[i + 1] = out[i + 1], out[i]\n    return out\n",
        (([1, 2, 3, 4, 5],), (["a", "b"],), ([],), ([9],)),
        ("def swap_pairs(items):\n    out = list(items)\n    for i in range(0, len(out) - 2, 2):\n"
         "        out[i], out[i + 1] = out[i + 1], out[i]\n    return out\n",
         "def swap_pairs(items):\n    out = list(items)\n    for i in range(1, len(out) - 1, 2):\n"
         "        out[i], out[i + 1] = out[i + 1], out[i]\n    return out\n")),
    FunctionSpec("dot_product", "a, b", (
        "{f} that multiplies two equal-length lists element by element and adds up the products",
        "{f}: the dot product sum(a[i] * b[i])"),
        "def dot_product(a, b):\n    return sum(p * q for p, q in zip(a, b))\n",
        (([1, 2, 3], [4, 5, 6]), ([2, -1], [3, 3]), ([], [])),
        ("def dot_product(a, b):\n    return sum(p + q for p, q in zip(a, b))\n",)),
    FunctionSpec("add_vectors", "a, b", (
        "{f} that adds two equal-length lists position by position",
        "{f}: the list whose i-th value is a[i] + b[i]"),
        "def add_vectors(a, b):\n    return [p + q for p, q in zip(a, b)]\n",
        (([1, 2], [10, 20]), ([0.5, 1], [0.5, -1]), ([], [])),
        ("def add_vectors(a, b):\n    return [p + q for p in a for q in b]\n",)),
    FunctionSpec("manhattan_distance", "p, q", (
        "{f} that returns the taxicab distance between two points given as coordinate lists",
        "{f}: the sum of the absolute differences of the coordinates of p and q"),
        "def manhattan_distance(p, q):\n    return sum(abs(a - b) for a, b in zip(p, q))\n",
        (([1, 2], [4, 6]), ([0, 0, 0], [-1, 2, -3]), ([5], [5])),
        ("def manhattan_distance(p, q):\n    return sum(a - b for a, b in zip(p, q))\n",)),
    FunctionSpec("last_index_of", "items, value", (
        "{f} that returns the index of the last occurrence of value in items, or -1 if it is absent",
        "{f}: where value appears for the final time in the list (-1 when it never does)"),
        "def last_index_of(items, value):\n    for i in range(len(items) - 1, -1, -1):\n"
        "        if items[i] == value:\n            return i\n    return -1\n",
        (([1, 2, 1, 3], 1), (["a", "b"], "z"), ([7], 7)),
        ("def last_index_of(items, value):\n    for i in range(len(items) - 1, 0, -1):\n"
         "        if items[i] == value:\n            return i\n    return -1\n",
         "def last_index_of(items, value):\n    for i in range(len(items)):\n"
         "        if items[i] == value:\n            return i\n    return -1\n")),
    FunctionSpec("nearest_to", "numbers, target", (
        "{f} that returns the number of the list closest to target, the smaller one on a tie",
        "{f}: the value n of numbers with the least abs(n - target) (ties go to the lower n)"),
        "def nearest_to(numbers, target):\n    return min(numbers, key=lambda n: (abs(n - target), n))\n",
        (([1, 5, 9], 6), ([4, 2, 8], 3), ([10], 0), ([-3, 3, 7], 0)),
        ("def nearest_to(numbers, target):\n    return min(numbers, key=lambda n: abs(n - target))\n",
         "def nearest_to(numbers, target):\n    return min(numbers, key=lambda n: (abs(n) - target, n))\n")),
    FunctionSpec("all_equal", "items", (
        "{f} that says whether every element of the list is the same (True for an empty list)",
        "{f}: True when items holds at most one distinct value"),
        "def all_equal(items):\n    return len(set(items)) <= 1\n",
        (([3, 3, 3],), ([1, 2, 1],), ([],), (["a"],)),
        ("def all_equal(items):\n    return len(set(items)) == 1\n",)),
    FunctionSpec("count_multiples", "numbers, k", (
        "{f} that counts the numbers of the list that are divisible by k",
        "{f}: how many n in numbers leave no remainder when divided by k"),
        "def count_multiples(numbers, k):\n    return sum(1 for n in numbers if n % k == 0)\n",
        (([3, 6, 7, 9, 10], 3), ([1, 2], 5), ([0, 4, 8], 4)),
        ("def count_multiples(numbers, k):\n    return sum(1 for n in numbers if n % k)\n",)),
    FunctionSpec("alternating_sum", "numbers", (
        "{f} that adds the numbers at even positions and subtracts those at odd positions",
        "{f}: numbers[0] - numbers[1] + numbers[2] - ... (0 for an empty list)"),
        "def alternating_sum(numbers):\n    return sum(n if i % 2 == 0 else -n for i, n in enumerate(numbers))\n",
        (([5, 3, 2],), ([1, 1, 1, 1],), ([],), ([10, 20],)),
        ("def alternating_sum(numbers):\n    return sum(n if i % 2 == 1 else -n for i, n in enumerate(numbers))\n",)),
    FunctionSpec("digits_to_number", "digits", (
        "{f} that builds an integer from a list of decimal digits, e.g. [1, 2, 3] -> 123",
        "{f}: the number whose digits, most significant first, are the list (0 for [])"),
        "def digits_to_number(digits):\n    value = 0\n    for d in digits:\n        value = value * 10 + d\n"
        "    return value\n",
        (([1, 2, 3],), ([0, 7],), ([],), ([9, 0, 0],)),
        ("def digits_to_number(digits):\n    value = 0\n    for d in digits:\n        value = value + d * 10\n"
         "    return value\n",)),
    FunctionSpec("pad_list", "items, length, fill", (
        "{f} that appends fill to the end of items until the list has length elements",
        "{f}: items extended on the right with fill up to the given length (longer lists stay as they are)"),
        "def pad_list(items, length, fill):\n    return items + [fill] * (length - len(items))\n",
        (([1, 2], 5, 0), (["a", "b", "c"], 2, "-"), ([], 3, None)),
        ("def pad_list(items, length, fill):\n    return items + [fill] * length\n",
         "def pad_list(items, length, fill):\n    return [fill] * (length - len(items)) + items\n")),
    FunctionSpec("peak_indices", "numbers", (
        "{f} that returns the indexes of the values strictly bigger than both of their neighbours",
        "{f}: positions i (never the first or last) with numbers[i - 1] < numbers[i] > numbers[i + 1]"),
        "def peak_indices(numbers):\n"
        "    return [i for i in range(1, len(numbers) - 1) if numbers[i - 1] < numbers[i] > numbers[i + 1]]\n",
        (([1, 3, 2, 5, 4],), ([1, 2, 3],), ([2, 2, 2],), ([0, 9, 0, 9],)),
        ("def peak_indices(numbers):\n"
         "    return [i for i in range(1, len(numbers) - 1) if numbers[i - 1] <= numbers[i] >= numbers[i + 1]]\n",
         "def peak_indices(numbers):\n"
         "    return [i for i in range(1, len(numbers)) if numbers[i - 1] < numbers[i] > numbers[i + 1]]\n")),
    FunctionSpec("transpose_grid", "grid", (
        "{f} that swaps the rows and columns of a rectangular list of lists",
        "{f}: the transpose of grid, so row i of the result is column i of grid"),
        "def transpose_grid(grid):\n    return [list(row) for row in zip(*grid)]\n",
        (([[1, 2, 3], [4, 5, 6]],), ([[1]],), ([["a", "b"], ["c", "d"]],)),
        ("def transpose_grid(grid):\n    return [list(row) for row in grid]\n",)),
    FunctionSpec("column_sums", "grid", (
        "{f} that returns the total of each column of a rectangular grid of numbers",
        "{f}: one sum per column of grid, from left to right"),
        "def column_sums(grid):\n    return [sum(col) for col in zip(*grid)]\n",
        (([[1, 2, 3], [4, 5, 6]],), ([[7]],), ([[1, -1], [2, -2], [3, -3]],)),
        ("def column_sums(grid):\n    return [sum(row) for row in grid]\n",)),
    FunctionSpec("main_diagonal", "grid", (
        "{f} that returns the values on the top-left to bottom-right diagonal of a square grid",
        "{f}: [grid[0][0], grid[1][1], ...] for a square list of lists"),
        "def main_diagonal(grid):\n    return [grid[i][i] for i in range(len(grid))]\n",
        (([[1, 2], [3, 4]],), ([[5, 0, 0], [0, 6, 0], [0, 0, 7]],), ([[9]],)),
        ("def main_diagonal(grid):\n    return [grid[i][-i] for i in range(len(grid))]\n",
         "def main_diagonal(grid):\n    return [grid[i][-i - 1] for i in range(len(grid))]\n")),
    FunctionSpec("forward_fill", "values", (
        "{f} that replaces each None with the most recent value that was not None (leading Nones stay None)",
        "{f}: carry the last real value forward over the gaps (None) of the list"),
        "def forward_fill(values):\n    out, last = [], None\n    for v in values:\n"
        "        last = v if v is not None else last\n        out.append(last)\n    return out\n",
        (([1, None, None, 4, None],), ([None, 2],), ([],), ([0, None],)),
        ("def forward_fill(values):\n    out, last = [], None\n    for v in values:\n"
         "        last = v if v else last\n        out.append(last)\n    return out\n",
         "def forward_fill(values):\n    out, last = [], 0\n    for v in values:\n"
         "        last = v if v is not None else last\n        out.append(last)\n    return out\n")),
    FunctionSpec("summarize_ranges", "numbers", (
        "{f} that describes a sorted list of distinct integers by its runs, e.g. [1, 2, 3, 5] -> ['1-3', '5']",
        "{f}: consecutive integers collapse to 'first-last' and lone ones stay as their own string"),
        "def summarize_ranges(numbers):\n    spans = []\n    for n in numbers:\n"
        "        if not spans or n != spans[-1][1] + 1:\n            spans.append([n, n])\n        spans[-1][1] = n\n"
        "    return [f'{a}-{b}' if a != b else str(a) for a, b in spans]\n",
        (([1, 2, 3, 5, 7, 8],), ([4],), ([],), ([10, 11],)),
        ("def summarize_ranges(numbers):\n    spans = []\n    for n in numbers:\n"
         "        if not spans or n != spans[-1][1]:\n            spans.append([n, n])\n        spans[-1][1] = n\n"
         "    return [f'{a}-{b}' if a != b else str(a) for a, b in spans]\n",
         "def summarize_ranges(numbers):\n    spans = []\n    for n in numbers:\n"
         "        if not spans or n != spans[-1][1] + 1:\n            spans.append([n, n])\n        spans[-1][1] = n\n"
         "    return [f'{a}-{b}' for a, b in spans]\n")),
    FunctionSpec("cycle_take", "items, n", (
        "{f} that takes n elements from items, starting over when it runs out, e.g. ([1, 2], 5) -> [1, 2, 1, 2, 1]",
        "{f}: n values taken by cycling through the non-empty list items"),
        "def cycle_take(items, n):\n    return [items[i % len(items)] for i in range(n)]\n",
        (([1, 2, 3], 7), (["x"], 3), (["a", "b"], 0)),
        ("def cycle_take(items, n):\n    return [items[i % n] for i in range(n)]\n",
         "def cycle_take(items, n):\n    return [items[i % len(items)] for i in range(n - 1)]\n")),
    FunctionSpec("rank_values", "numbers", (
        "{f} that replaces each number of a list of distinct numbers by its rank, 1 for the smallest",
        "{f}: for every value its 1-based position in the sorted list, e.g. [30, 10, 20] -> [3, 1, 2]"),
        "def rank_values(numbers):\n    order = sorted(numbers)\n    return [order.index(n) + 1 for n in numbers]\n",
        (([30, 10, 20],), ([5],), ([-1, 4, 0, 2],)),
        ("def rank_values(numbers):\n    order = sorted(numbers)\n    return [order.index(n) for n in numbers]\n",
         "def rank_values(numbers):\n    order = sorted(numbers, reverse=True)\n"
         "    return [order.index(n) + 1 for n in numbers]\n")),
    FunctionSpec("split_in_halves", "items", (
        "{f} that cuts a list into [first half, second half], giving the extra element to the first half",
        "{f}: two lists; for odd lengths the first one is longer by one"),
        "def split_in_halves(items):\n    mid = (len(items) + 1) // 2\n    return [items[:mid], items[mid:]]\n",
        (([1, 2, 3, 4],), ([1, 2, 3],), ([],), (["a"],)),
        ("def split_in_halves(items):\n    mid = len(items) // 2\n    return [items[:mid], items[mid:]]\n",)),
    # -- arithmetic -------------------------------------------------------------------------------------
    FunctionSpec("reverse_number", "n", (
        "{f} that returns the integer made of the digits of a non-negative n in reverse order, e.g. 1230 -> 321",
        "{f}: n with its decimal digits reversed, as an int"),
        "def reverse_number(n):\n    return int(str(n)[::-1])\n",
        ((1230,), (5,), (907,)),
        ("def reverse_number(n):\n    return str(n)[::-1]\n",)),
    FunctionSpec("is_perfect_number", "n", (
        "{f} that checks whether n equals the sum of its divisors smaller than itself (like 6 = 1 + 2 + 3)",
        "{f}: True for perfect numbers such as 6 and 28"),
        "def is_perfect_number(n):\n    return n > 1 and sum(d for d in range(1, n) if n % d == 0) == n\n",
        ((6,), (28,), (12,), (1,)),
        ("def is_perfect_number(n):\n    return n > 1 and sum(d for d in range(1, n + 1) if n % d == 0) == n\n",
         "def is_perfect_number(n):\n    return n > 1 and sum(d for d in range(2, n) if n % d == 0) == n\n")),
    FunctionSpec("circle_area", "radius", (
        "{f} that returns the area of a circle with the given radius, rounded to two decimals",
        "{f}: pi * radius squared, to 2 decimal places"),
        "def circle_area(radius):\n    import math\n    return round(math.pi * radius ** 2, 2)\n",
        ((1,), (2.5,), (0,)),
        ("def circle_area(radius):\n    import math\n    return round(math.pi * radius * 2, 2)\n",
         "def circle_area(radius):\n    import math\n    return round(2 * math.pi * radius, 2)\n")),
    FunctionSpec("point_distance", "x1, y1, x2, y2", (
        "{f} that returns the straight-line distance between (x1, y1) and (x2, y2), rounded to 2 decimals",
        "{f}: the Euclidean distance of two points in the plane to two decimal places"),
        "def point_distance(x1, y1, x2, y2):\n    return round(((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5, 2)\n",
        ((0, 0, 3, 4), (1, 1, 2, 2), (-1, 5, -1, 5)),
        ("def point_distance(x1, y1, x2, y2):\n    return round(((x2 - x1) ** 2 + (y2 - y1) * 2) ** 0.5, 2)\n",
         "def point_distance(x1, y1, x2, y2):\n    return round((x2 - x1) ** 2 + (y2 - y1) ** 2, 2)\n")),
    FunctionSpec("compound_interest", "principal, rate, years", (
        "{f} that returns what principal grows to after years of yearly compounding at rate percent, rounded "
        "to cents",
        "{f}: principal * (1 + rate / 100) ** years to 2 decimals"),
        "def compound_interest(principal, rate, years):\n    return round(principal * (1 + rate / 100) ** years, 2)\n",
        ((1000, 5, 2), (500, 10, 1), (200, 0, 5)),
        ("def compound_interest(principal, rate, years):\n    return round(principal * (1 + rate / 100 * years), 2)\n",
         "def compound_interest(principal, rate, years):\n"
         "    return round(principal * (1 + rate / 10) ** years, 2)\n")),
    FunctionSpec("body_mass_index", "weight, height", (
        "{f} that computes the BMI from weight in kilograms and height in metres, rounded to one decimal",
        "{f}: weight divided by the square of height, to 1 decimal place"),
        "def body_mass_index(weight, height):\n    return round(weight / height ** 2, 1)\n",
        ((70, 1.75), (50, 1.6), (90, 2.0)),
        ("def body_mass_index(weight, height):\n    return round(weight / height * 2, 1)\n",)),
    FunctionSpec("km_to_miles", "km", (
        "{f} that converts kilometres to miles (1 km = 0.621371 miles) and rounds to two decimals",
        "{f}: the distance km expressed in miles, to 2 decimal places"),
        "def km_to_miles(km):\n    return round(km * 0.621371, 2)\n",
        ((10,), (1.5,), (0,)),
        ("def km_to_miles(km):\n    return round(km / 0.621371, 2)\n",)),
    FunctionSpec("split_bill", "total, people, tip_percent", (
        "{f} that returns what each person pays when total plus a tip of tip_percent is shared evenly, to cents",
        "{f}: total * (1 + tip_percent / 100) / people rounded to 2 decimals"),
        "def split_bill(total, people, tip_percent):\n    return round(total * (1 + tip_percent / 100) / people, 2)\n",
        ((100, 4, 20), (59.9, 2, 0), (30, 3, 15)),
        ("def split_bill(total, people, tip_percent):\n"
         "    return round(total * (1 + tip_percent / 10) / people, 2)\n",)),
    FunctionSpec("sign_of", "x", (
        "{f} that returns 1 for a positive number, -1 for a negative one and 0 for zero",
        "{f}: the sign of x as -1, 0 or 1"),
        "def sign_of(x):\n    if x > 0:\n        return 1\n    if x < 0:\n        return -1\n    return 0\n",
        ((5,), (-2.5,), (0,)),
        ("def sign_of(x):\n    if x >= 0:\n        return 1\n    if x < 0:\n        return -1\n    return 0\n",)),
    FunctionSpec("round_up_to", "n, k", (
        "{f} that returns the smallest multiple of k that is at least n (n >= 0, k > 0)",
        "{f}: n rounded up to the next multiple of k, or n itself when k already divides it"),
        "def round_up_to(n, k):\n    if n % k == 0:\n        return n\n    return (n // k + 1) * k\n",
        ((17, 5), (20, 5), (1, 10), (0, 3)),
        ("def round_up_to(n, k):\n    return (n // k + 1) * k\n",
         "def round_up_to(n, k):\n    if n % k == 0:\n        return n\n    return (n // k) * k\n")),
    FunctionSpec("count_real_roots", "a, b, c", (
        "{f} that returns how many distinct real solutions a*x*x + b*x + c = 0 has (a is never 0)",
        "{f}: 2, 1 or 0 depending on whether the discriminant b*b - 4*a*c is positive, zero or negative"),
        "def count_real_roots(a, b, c):\n    d = b * b - 4 * a * c\n    return 2 if d > 0 else 1 if d == 0 else 0\n",
        ((1, -3, 2), (1, 2, 1), (1, 0, 1)),
        ("def count_real_roots(a, b, c):\n    d = b * b - 4 * a * c\n    return 2 if d >= 0 else 1 if d == 0 else 0\n",
         "def count_real_roots(a, b, c):\n    d = b * 2 - 4 * a * c\n    return 2 if d > 0 else 1 if d == 0 else 0\n")),
    FunctionSpec("nth_term", "first, step, n", (
        "{f} that returns the n-th term (n from 1) of the arithmetic sequence starting at first and going up by step",
        "{f}: first + (n - 1) * step"),
        "def nth_term(first, step, n):\n    return first + (n - 1) * step\n",
        ((2, 3, 1), (2, 3, 4), (10, -2, 6)),
        ("def nth_term(first, step, n):\n    return first + n * step\n",)),
    FunctionSpec("count_trailing_zeros", "n", (
        "{f} that counts the zeros at the end of a positive integer written in decimal, e.g. 1200 -> 2",
        "{f}: how many 0 digits n ends with"),
        "def count_trailing_zeros(n):\n    text = str(n)\n    return len(text) - len(text.rstrip('0'))\n",
        ((1200,), (7,), (1000000,), (1010,)),
        ("def count_trailing_zeros(n):\n    return str(n).count('0')\n",)),
    FunctionSpec("degrees_to_radians", "degrees", (
        "{f} that converts an angle from degrees to radians, rounded to 4 decimals",
        "{f}: degrees * pi / 180 to four decimal places"),
        "def degrees_to_radians(degrees):\n    import math\n    return round(degrees * math.pi / 180, 4)\n",
        ((180,), (90,), (45,), (0,)),
        ("def degrees_to_radians(degrees):\n    import math\n    return round(degrees * 180 / math.pi, 4)\n",)),
    FunctionSpec("price_after_discount", "price, percent", (
        "{f} that returns the price once percent off has been taken, rounded to cents",
        "{f}: price reduced by percent per cent, to 2 decimals"),
        "def price_after_discount(price, percent):\n    return round(price * (1 - percent / 100), 2)\n",
        ((80, 25), (19.99, 10), (50, 0)),
        ("def price_after_discount(price, percent):\n    return round(price * percent / 100, 2)\n",)),
    FunctionSpec("weekly_pay", "hours, rate", (
        "{f} that returns a week's pay where hours beyond 40 are paid at 1.5 times the hourly rate",
        "{f}: hours * rate for up to 40 hours; each extra hour earns rate * 1.5"),
        "def weekly_pay(hours, rate):\n    if hours <= 40:\n        return hours * rate\n"
        "    return 40 * rate + (hours - 40) * rate * 1.5\n",
        ((38, 10), (45, 20), (40, 15)),
        ("def weekly_pay(hours, rate):\n    if hours <= 40:\n        return hours * rate\n"
         "    return 40 * rate + hours * rate * 1.5\n",)),
    FunctionSpec("ticket_price", "age", (
        "{f} that returns the ticket price for a visitor: 5 under age 12, 7 from age 65 on, 10 otherwise",
        "{f}: children younger than 12 pay 5, people 65 or older pay 7 and everyone else pays 10"),
        "def ticket_price(age):\n    if age < 12:\n        return 5\n    if age >= 65:\n        return 7\n"
        "    return 10\n",
        ((8,), (12,), (40,), (65,)),
        ("def ticket_price(age):\n    if age <= 12:\n        return 5\n    if age >= 65:\n        return 7\n"
         "    return 10\n",
         "def ticket_price(age):\n    if age < 12:\n        return 5\n    if age > 65:\n        return 7\n"
         "    return 10\n")),
    FunctionSpec("min_coins", "cents", (
        "{f} that returns the fewest coins of 25, 10, 5 and 1 cents that add up to cents",
        "{f}: the number of coins needed for an amount when always using the largest coin that fits (25/10/5/1)"),
        "def min_coins(cents):\n    count = 0\n    for coin in (25, 10, 5, 1):\n        count += cents // coin\n"
        "        cents %= coin\n    return count\n",
        ((41,), (99,), (0,), (30,)),
        ("def min_coins(cents):\n    count = 0\n    for coin in (25, 10, 1):\n        count += cents // coin\n"
         "        cents %= coin\n    return count\n",)),
    FunctionSpec("to_kmh", "meters, seconds", (
        "{f} that returns the speed in km/h of someone who covers meters in seconds, rounded to one decimal",
        "{f}: meters / seconds * 3.6 to 1 decimal place"),
        "def to_kmh(meters, seconds):\n    return round(meters / seconds * 3.6, 1)\n",
        ((100, 10), (1000, 360), (42195, 7200)),
        ("def to_kmh(meters, seconds):\n    return round(meters / seconds / 3.6, 1)\n",)),
    # -- dicts ------------------------------------------------------------------------------------------
    FunctionSpec("zip_to_dict", "keys, values", (
        "{f} that builds a dict pairing each key with the value at the same position",
        "{f}: {{keys[i]: values[i]}} for every index i"),
        "def zip_to_dict(keys, values):\n    return dict(zip(keys, values))\n",
        ((["a", "b"], [1, 2]), (["x"], [True]), ([], [])),
        ("def zip_to_dict(keys, values):\n    return dict(zip(values, keys))\n",)),
    FunctionSpec("invert_dict", "mapping", (
        "{f} that swaps keys and values; when several keys share a value the first key wins",
        "{f}: a dict from each value of mapping back to the earliest key that had it"),
        "def invert_dict(mapping):\n    out = {}\n    for key, value in mapping.items():\n"
        "        if value not in out:\n            out[value] = key\n    return out\n",
        (({"a": "x", "b": "y"},), ({"one": "odd", "two": "even", "three": "odd"},), ({},)),
        ("def invert_dict(mapping):\n    out = {}\n    for key, value in mapping.items():\n"
         "        out[value] = key\n    return out\n",)),
    FunctionSpec("group_by_first_letter", "words", (
        "{f} that groups words in a dict keyed by their lower-cased first letter, keeping the order of words",
        "{f}: {{letter: [words starting with it]}} where 'Apple' and 'avocado' share the key 'a'"),
        "def group_by_first_letter(words):\n    groups = {}\n    for word in words:\n"
        "        groups.setdefault(word[0].lower(), []).append(word)\n    return groups\n",
        ((["apple", "Avocado", "banana"],), (["kiwi"],), ([],)),
        ("def group_by_first_letter(words):\n    groups = {}\n    for word in words:\n"
         "        groups.setdefault(word[0], []).append(word)\n    return groups\n",
         "def group_by_first_letter(words):\n    groups = {}\n    for word in words:\n"
         "        groups[word[0].lower()] = [word]\n    return groups\n")),
    FunctionSpec("parse_key_values", "text", (
        "{f} that reads 'a=1;b=2' style text into a dict of strings; a value may itself contain '='",
        "{f}: split text on ';' and each non-empty part at its first '=' into key and value"),
        "def parse_key_values(text):\n    pairs = (part.partition('=') for part in text.split(';') if part)\n"
        "    return {key: value for key, _, value in pairs}\n",
        (("a=1;b=2",), ("name=Ann;expr=x=y;",), ("",)),
        ("def parse_key_values(text):\n    pairs = (part.partition('=') for part in text.split(',') if part)\n"
         "    return {key: value for key, _, value in pairs}\n",
         "def parse_key_values(text):\n    pairs = (part.partition('=') for part in text.split(';'))\n"
         "    return {key: value for key, _, value in pairs}\n")),
    FunctionSpec("type_counts", "items", (
        "{f} that counts the items of a list by type name, e.g. [1, 'a', 2] -> {{'int': 2, 'str': 1}}",
        "{f}: a dict from type(item).__name__ to how many items have that type"),
        "def type_counts(items):\n    counts = {}\n    for item in items:\n        name = type(item).__name__\n"
        "        counts[name] = counts.get(name, 0) + 1\n    return counts\n",
        (([1, "a", 2, 3.5],), ([True, None, "x", "y"],), ([],)),
        ("def type_counts(items):\n    counts = {}\n    for item in items:\n        name = type(item).__name__\n"
         "        counts[name] = 1\n    return counts\n",
         "def type_counts(items):\n    counts = {}\n    for item in items:\n        name = type(item).__name__\n"
         "        counts[name] = counts.get(name, 1) + 1\n    return counts\n")),
    FunctionSpec("merge_counts", "a, b", (
        "{f} that merges two dicts of counts, adding the numbers of keys found in both",
        "{f}: a new dict with every key of a and b whose value is a's count plus b's count"),
        "def merge_counts(a, b):\n    out = dict(a)\n    for key, n in b.items():\n"
        "        out[key] = out.get(key, 0) + n\n    return out\n",
        (({"x": 1, "y": 2}, {"y": 3, "z": 4}), ({}, {"a": 1}), ({"k": 5}, {})),
        ("def merge_counts(a, b):\n    out = dict(a)\n    for key, n in b.items():\n"
         "        out[key] = n\n    return out\n",)),
    FunctionSpec("entries_at_least", "scores, minimum", (
        "{f} that keeps only the entries of the dict scores whose value is minimum or more",
        "{f}: a new dict with the key/value pairs of scores where value >= minimum"),
        "def entries_at_least(scores, minimum):\n"
        "    return {key: value for key, value in scores.items() if value >= minimum}\n",
        (({"ann": 7, "bo": 4, "cy": 9}, 7), ({"x": 1}, 5), ({}, 0)),
        ("def entries_at_least(scores, minimum):\n"
         "    return {key: value for key, value in scores.items() if value > minimum}\n",)),
    FunctionSpec("column_values", "records, field", (
        "{f} that collects the value of field from each dict in records, with None where it is missing",
        "{f}: [record.get(field) for every record] in order"),
        "def column_values(records, field):\n    return [record.get(field) for record in records]\n",
        (([{"name": "Ana", "age": 30}, {"name": "Bo"}], "age"), ([{"id": 1}, {"id": 2}], "id"), ([], "x")),
        ("def column_values(records, field):\n    return [record[field] for record in records]\n",)),
    FunctionSpec("get_path", "data, path", (
        "{f} that follows a dotted path like 'a.b.c' through nested dicts and returns None if any step is missing",
        "{f}: data['a']['b']['c'] for the path 'a.b.c', or None when the path does not exist"),
        "def get_path(data, path):\n    for key in path.split('.'):\n"
        "        if not isinstance(data, dict) or key not in data:\n            return None\n        data = data[key]\n"
        "    return data\n",
        (({"a": {"b": {"c": 5}}}, "a.b.c"), ({"a": {"b": 1}}, "a.x"), ({"a": 1}, "a.b"), ({"top": "v"}, "top")),
        ("def get_path(data, path):\n    for key in path.split('.'):\n"
         "        if key not in data:\n            return None\n        data = data[key]\n"
         "    return data\n",
         "def get_path(data, path):\n    for key in path.split('.'):\n"
         "        if not isinstance(data, dict) or key not in data:\n            return data\n"
         "        data = data[key]\n    return data\n")),
    FunctionSpec("changed_keys", "old, new", (
        "{f} that returns, sorted, the keys of old whose value in new is different or missing",
        "{f}: the sorted list of keys of old that new dropped or changed"),
        "def changed_keys(old, new):\n"
        "    return sorted(key for key in old if key not in new or old[key] != new[key])\n",
        (({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5}), ({"x": 0}, {"x": 0}), ({}, {"y": 1})),
        ("def changed_keys(old, new):\n"
         "    return sorted(key for key in old if key in new and old[key] != new[key])\n",)),
    FunctionSpec("rename_keys", "data, mapping", (
        "{f} that renames the keys of data listed in mapping (old name -> new name) and keeps the others",
        "{f}: a copy of data where each key found in mapping is replaced by mapping[key]"),
        "def rename_keys(data, mapping):\n    return {mapping.get(key, key): value for key, value in data.items()}\n",
        (({"fname": "Ada", "age": 36}, {"fname": "first_name"}), ({"a": 1}, {}),
         ({"x": 1, "y": 2}, {"x": "y", "y": "x"})),
        ("def rename_keys(data, mapping):\n    return {mapping[key]: value for key, value in data.items()}\n",)),
    FunctionSpec("drop_none_values", "data", (
        "{f} that removes the entries of a dict whose value is None, keeping falsy values like 0 or ''",
        "{f}: data without the keys that map to None"),
        "def drop_none_values(data):\n    return {key: value for key, value in data.items() if value is not None}\n",
        (({"a": 1, "b": None, "c": 0},), ({"x": None},), ({"s": "", "t": False},)),
        ("def drop_none_values(data):\n    return {key: value for key, value in data.items() if value}\n",)),
    FunctionSpec("with_defaults", "data, defaults", (
        "{f} that fills in the keys of defaults missing from data; values already in data win",
        "{f}: a new dict with all of defaults overridden by data"),
        "def with_defaults(data, defaults):\n    return {**defaults, **data}\n",
        (({"color": "red"}, {"color": "blue", "size": "M"}), ({}, {"a": 1}), ({"x": 1}, {})),
        ("def with_defaults(data, defaults):\n    return {**data, **defaults}\n",)),
    FunctionSpec("pick_keys", "data, keys", (
        "{f} that returns a dict with only the listed keys of data, skipping keys data does not have",
        "{f}: the sub-dict of data for the names in keys (in the order of keys)"),
        "def pick_keys(data, keys):\n    return {key: data[key] for key in keys if key in data}\n",
        (({"a": 1, "b": 2, "c": 3}, ["c", "a"]), ({"a": 1}, ["z"]), ({}, [])),
        ("def pick_keys(data, keys):\n    return {key: data.get(key) for key in keys}\n",)),
    FunctionSpec("expand_counts", "counts", (
        "{f} that turns a dict of counts into a list repeating each key that many times, e.g. {{'a': 2}} -> "
        "['a', 'a']",
        "{f}: every key of counts written out counts[key] times, in the dict's order"),
        "def expand_counts(counts):\n    out = []\n    for key, n in counts.items():\n        out += [key] * n\n"
        "    return out\n",
        (({"a": 2, "b": 1},), ({"xy": 3},), ({},), ({"z": 0},)),
        ("def expand_counts(counts):\n    out = []\n    for key, n in counts.items():\n        out += key * n\n"
         "    return out\n",)),
)
