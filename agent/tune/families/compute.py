"""Compute: a number the goal asks for, worked out with run_python and given back as the answer itself."""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable

from agent.tune.families.base import Draw, Plan, answer_has, call, finish, last_output, mistake, number


def _plan(d: Draw, goal: str, code: str, expected: str) -> Plan:
    """run_python, then finish with what it printed; sometimes a broken first try and its repair."""
    steps = [call("run_python", code=code), finish(last_output)]
    broken = _broken(code) if d.chance(0.25) else None
    if broken is not None:
        steps.insert(0, mistake("run_python", code=broken))
    return Plan(goal, {}, answer_has(expected), tuple(steps), max_steps=6, recovery=broken is not None)


def _broken(code: str) -> str | None:
    """A plausible first attempt that fails when it runs (it still compiles): the import forgotten, or
    print misspelt."""
    lines = code.splitlines()
    if lines[0].startswith("import ") and len(lines) > 1:
        return "\n".join(lines[1:])
    if "print(" in code:
        return code.replace("print(", "pritn(", 1)
    return None


def power(d: Draw) -> Plan:
    a, b = d.randint(2, 13), d.randint(5, 19)
    goal = d.wording([
        "What is {a} raised to the power {b}?",
        "Compute {a}**{b} and tell me the result.",
        "Raise {a} to the exponent {b} in Python; what comes out?",
        "I need the exact value of {a}^{b}.",
        "Give me {a} to the {b}th power.",
        "Calculate {a}**{b} using code and report the number.",
        "How much is {a} multiplied by itself {b} times?",
        "Please find the value of {a} ** {b}.",
    ], a=a, b=b)
    return _plan(d, goal, f"print({a} ** {b})", str(a ** b))


def factorial(d: Draw) -> Plan:
    n = d.randint(5, 22)
    goal = d.wording([
        "What is {n} factorial?",
        "Compute {n}! with Python and give me the number.",
        "Find the product of all whole numbers from 1 to {n}.",
        "How big is the factorial of {n}?",
        "Tell me the value of {n}!.",
        "Use code to calculate the factorial of {n}.",
        "Multiply 1 * 2 * ... * {n} and report the result.",
        "I need factorial({n}). What is it?",
    ], n=n)
    return _plan(d, goal, f"import math\nprint(math.factorial({n}))", str(math.factorial(n)))


def sum_range(d: Draw) -> Plan:
    a = d.randint(1, 60)
    b = a + d.randint(40, 4000)
    goal = d.wording([
        "Total up the integers {a} through {b}, counting both ends.",
        "Add up every whole number between {a} and {b} inclusive.",
        "Compute the total of {a} + {a1} + ... + {b}.",
        "Sum all integers in the range {a}..{b} (inclusive) with Python.",
        "Find the sum of the numbers {a} through {b}.",
        "If you add all the integers from {a} up to {b}, what do you get?",
        "Calculate sum(range({a}, {b1})) for me.",
        "What do the whole numbers from {a} to {b} add up to?",
    ], a=a, b=b, a1=a + 1, b1=b + 1)
    return _plan(d, goal, f"print(sum(range({a}, {b} + 1)))", str(sum(range(a, b + 1))))


def count_primes(d: Draw) -> Plan:
    n = d.randint(30, 700)
    goal = d.wording([
        "How many primes are smaller than {n}?",
        "Write code that counts primes under {n}, and report the count.",
        "Tell me how many prime numbers lie between 1 and {n} (exclusive).",
        "Use Python to count the primes less than {n}.",
        "What is the number of primes under {n}?",
        "Find how many integers below {n} are prime.",
        "Count primes p with p < {n}.",
        "How many prime numbers come before {n}?",
    ], n=n)
    code = ("def is_prime(k):\n    if k < 2:\n        return False\n"
            "    return all(k % i for i in range(2, int(k ** 0.5) + 1))\n\n"
            f"print(sum(1 for k in range({n}) if is_prime(k)))")
    expected = sum(1 for k in range(n) if k > 1 and all(k % i for i in range(2, int(k ** 0.5) + 1)))
    return _plan(d, goal, code, str(expected))


def fibonacci(d: Draw) -> Plan:
    n = d.randint(12, 60)
    goal = d.wording([
        "Fibonacci numbers start 1, 1, 2, 3. Which one is number {n}?",
        "Compute Fibonacci number {n} (the sequence starts 1, 1, 2, 3).",
        "Give me term {n} of the Fibonacci sequence 1, 1, 2, 3, 5, ...",
        "Run code to get Fibonacci term {n}, counting the first two 1s as terms 1 and 2.",
        "Calculate the Fibonacci number at position {n} (1, 1, 2, ...).",
        "Which number is number {n} in the Fibonacci sequence starting 1, 1?",
        "Find fib({n}); the first two terms are both 1.",
        "Tell me the {n}th term of 1, 1, 2, 3, 5, 8, ...",
    ], n=n)
    a, b = 1, 1
    for _ in range(n - 2):
        a, b = b, a + b
    code = f"a, b = 1, 1\nfor _ in range({n} - 2):\n    a, b = b, a + b\nprint(b)"
    return _plan(d, goal, code, str(b))


def days_between(d: Draw) -> Plan:
    start = datetime.date(d.randint(1990, 2030), d.randint(1, 12), d.randint(1, 28))
    end = start + datetime.timedelta(days=d.randint(20, 3000))
    goal = d.wording([
        "How many days lie between {s} and {e}?",
        "With the datetime module, count the days from {s} to {e}.",
        "What is the number of days from {s} until {e}?",
        "Compute how many days separate {s} and {e}.",
        "If today is {s}, how many days is it until {e}?",
        "Use datetime to find the days between {s} and {e}.",
        "Tell me the day count from {s} to {e}.",
        "How long is it, in days, from {s} to {e}?",
    ], s=start.isoformat(), e=end.isoformat())
    code = (f"from datetime import date\nprint((date({end.year}, {end.month}, {end.day}) - "
            f"date({start.year}, {start.month}, {start.day})).days)")
    return _plan(d, goal, code, str((end - start).days))


def square_root(d: Draw) -> Plan:
    root = d.randint(21, 999)
    goal = d.wording([
        "Find the square root of {n}.",
        "Find the number whose square is {n}.",
        "Compute sqrt({n}) with Python.",
        "Which whole number times itself gives {n}?",
        "Calculate the square root of {n} and tell me.",
        "Take the square root of {n}.",
        "Use code to get the root of {n}.",
        "What number squared equals {n}?",
    ], n=root * root)
    return _plan(d, goal, f"import math\nprint(math.isqrt({root * root}))", str(root))


def gcd_lcm(d: Draw) -> Plan:
    k = d.randint(2, 30)
    a, b = k * d.randint(2, 40), k * d.randint(2, 40)
    if d.chance(0.5):
        goal = d.wording([
            "What is the greatest common divisor of {a} and {b}?",
            "Find gcd({a}, {b}).",
            "Compute the largest number that divides both {a} and {b}.",
            "Use Python to get the GCD of {a} and {b}.",
            "Tell me the greatest common factor of {a} and {b}.",
            "Which is the biggest common divisor of {a} and {b}?",
            "Calculate gcd of {a} and {b}.",
            "What is the highest common factor of {a} and {b}?",
        ], a=a, b=b)
        return _plan(d, goal, f"import math\nprint(math.gcd({a}, {b}))", str(math.gcd(a, b)))
    goal = d.wording([
        "What is the least common multiple of {a} and {b}?",
        "Find lcm({a}, {b}).",
        "Compute the smallest number that both {a} and {b} divide.",
        "Use Python to get the LCM of {a} and {b}.",
        "Tell me the lowest common multiple of {a} and {b}.",
        "Which is the smallest common multiple of {a} and {b}?",
        "Calculate the lcm of {a} and {b}.",
        "What is the smallest positive number divisible by both {a} and {b}?",
    ], a=a, b=b)
    return _plan(d, goal, f"import math\nprint(math.lcm({a}, {b}))", str(math.lcm(a, b)))


def digit_sum(d: Draw) -> Plan:
    a, b = d.randint(2, 9), d.randint(20, 90)
    goal = d.wording([
        "What is the sum of the digits of {a}**{b}?",
        "Add up the digits of {a} to the power {b}.",
        "Compute the digit sum of {a}^{b}.",
        "Use Python to sum the decimal digits of {a}**{b}.",
        "Take {a}**{b} and add its digits together. What do you get?",
        "Find the sum of all digits in the number {a}**{b}.",
        "How much do the digits of {a} ** {b} add up to?",
        "Tell me the digit total of {a}^{b}.",
    ], a=a, b=b)
    return _plan(d, goal, f"print(sum(int(c) for c in str({a} ** {b})))", str(sum(map(int, str(a ** b)))))


def multiples(d: Draw) -> Plan:
    k, m, n = d.randint(2, 9), d.randint(3, 13), d.randint(50, 5000)
    if k == m:
        m += 1
    goal = d.wording([
        "How many numbers below {n} are divisible by {k} or by {m}?",
        "Count the integers from 1 to {n1} that are multiples of {k} or {m}.",
        "Use Python to count numbers under {n} divisible by {k} or {m}.",
        "Of the numbers 1..{n1}, how many are multiples of {k} or of {m}?",
        "Find how many positive integers less than {n} divide by {k} or {m}.",
        "Tell me the count of multiples of {k} or {m} below {n}.",
        "Count every x < {n} with x % {k} == 0 or x % {m} == 0 (x >= 1).",
        "How many multiples of {k} or {m} are there under {n}?",
    ], n=n, k=k, m=m, n1=n - 1)
    code = f"print(sum(1 for x in range(1, {n}) if x % {k} == 0 or x % {m} == 0))"
    return _plan(d, goal, code, str(sum(1 for x in range(1, n) if x % k == 0 or x % m == 0)))


def percent(d: Draw) -> Plan:
    p, x = d.randint(3, 95), d.randint(40, 9000)
    goal = d.wording([
        "What is {p}% of {x}?",
        "Compute {p} percent of {x}.",
        "Work out {p}% of {x} with Python.",
        "How much is {p} per cent of {x}?",
        "Find {p}% of the number {x}.",
        "Calculate {x} * {p} / 100.",
        "Take {p} percent of {x}; what is the result?",
        "Tell me what {p}% of {x} comes to.",
    ], p=p, x=x)
    value = round(x * p / 100, 2)
    return _plan(d, goal, f"print(round({x} * {p} / 100, 2))", number(value))


def list_stat(d: Draw) -> Plan:
    values = [d.randint(1, 400) for _ in range(d.randint(5, 9))]
    text = ", ".join(map(str, values))
    kind = d.choice(["mean", "range", "product"])
    if kind == "mean":
        goal = d.wording([
            "What is the average of {v}? Round to two decimals.",
            "Compute the mean of these numbers: {v} (two decimal places).",
            "Find the arithmetic mean of {v}, rounded to 2 decimals.",
            "Average the numbers {v} and round to two decimals.",
        ], v=text)
        return _plan(d, goal, f"values = [{text}]\nprint(round(sum(values) / len(values), 2))",
                     number(round(sum(values) / len(values), 2)))
    if kind == "range":
        goal = d.wording([
            "What is the difference between the largest and the smallest of {v}?",
            "Compute max minus min for the numbers {v}.",
            "Find the range (largest minus smallest) of {v}.",
            "How far apart are the biggest and smallest values in {v}?",
        ], v=text)
        return _plan(d, goal, f"values = [{text}]\nprint(max(values) - min(values))", str(max(values) - min(values)))
    goal = d.wording([
        "What is the product of {v}?",
        "Multiply these numbers together: {v}.",
        "Compute the product of the list {v}.",
        "What do you get when you multiply {v}?",
    ], v=text)
    return _plan(d, goal, f"import math\nprint(math.prod([{text}]))", str(math.prod(values)))


def binary(d: Draw) -> Plan:
    n = d.randint(20, 5000)
    goal = d.wording([
        "Write {n} in binary.",
        "What is {n} in base 2?",
        "Convert the number {n} to its binary digits.",
        "Give me the binary representation of {n} (without 0b).",
        "How is {n} written in binary?",
        "Turn {n} into a binary string.",
        "Use Python to show {n} in base two.",
        "What are the binary digits of {n}?",
    ], n=n)
    return _plan(d, goal, f"print(format({n}, 'b'))", format(n, "b"))


def divisors(d: Draw) -> Plan:
    n = d.randint(24, 3000)
    goal = d.wording([
        "How many divisors does {n} have?",
        "Count the positive divisors of {n}.",
        "Use Python to count the numbers that divide {n} evenly.",
        "How many whole numbers divide {n} without a remainder?",
        "Find the number of factors of {n}.",
        "Tell me how many positive integers divide {n}.",
        "Count every d from 1 to {n} with {n} % d == 0.",
        "What is the divisor count of {n}?",
    ], n=n)
    return _plan(d, goal, f"print(sum(1 for k in range(1, {n} + 1) if {n} % k == 0))",
                 str(sum(1 for k in range(1, n + 1) if n % k == 0)))


def compound(d: Draw) -> Plan:
    amount, rate, years = d.randint(100, 20000), d.randint(1, 12), d.randint(2, 30)
    goal = d.wording([
        "{x} euros grow at {r}% a year for {y} years, compounded yearly. How much is it then, rounded to cents?",
        "Compute {x} * (1 + {r}/100) ** {y}, rounded to two decimals.",
        "What does a deposit of {x} become after {y} years at {r}% yearly interest? Round to 2 decimals.",
        "With {r}% interest compounded each year, what is {x} worth after {y} years (two decimals)?",
        "A savings account starts with {x} and earns {r}% per year. What is the balance after {y} years, to the cent?",
        "Find the value of {x} after {y} years of {r}% annual growth, rounded to 2 places.",
        "How much is {x} after growing by {r} percent every year for {y} years? Round to cents.",
        "Work out {x} compounded at {r}% for {y} years, rounded to two decimal places.",
    ], x=amount, r=rate, y=years)
    value = round(amount * (1 + rate / 100) ** years, 2)
    return _plan(d, goal, f"print(round({amount} * (1 + {rate} / 100) ** {years}, 2))", number(value))


KINDS: dict[str, Callable[[Draw], Plan]] = {
    "power": power, "factorial": factorial, "sum_range": sum_range, "count_primes": count_primes,
    "fibonacci": fibonacci, "days_between": days_between, "square_root": square_root, "gcd_lcm": gcd_lcm,
    "digit_sum": digit_sum, "multiples": multiples, "percent": percent, "list_stat": list_stat,
    "binary": binary, "divisors": divisors, "compound": compound,
}
