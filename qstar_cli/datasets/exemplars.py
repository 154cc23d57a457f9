"""Few-shot worked exemplars, written for qstar (not taken from any benchmark's test data).

Each exemplar is written in exactly the format the policy is asked for: one reasoning step per
line (a step is the search's unit of action), ending in "The answer is N." for numeric problems
and in a `\\boxed{}` answer for MATH-style problems. They are short on purpose: a few hundred prompt
tokens for eight shots. They are English; a dataset that prompts in another language brings its own
exemplars in it (MGSM's, in each of its languages, are in data/mgsm_exemplars.json, under their own licence).
"""

from __future__ import annotations

# (question, solution) pairs; every solution's last line states the answer.
NUMERIC_EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "Mia has 12 pencils. She gives 4 pencils to her brother and then buys 7 more. "
        "How many pencils does Mia have now?",
        "Mia starts with 12 pencils.\n"
        "After giving away 4 she has 12 - 4 = 8 pencils.\n"
        "After buying 7 more she has 8 + 7 = 15 pencils.\n"
        "The answer is 15.",
    ),
    (
        "A baker puts 6 muffins in each box. How many boxes does he need for 54 muffins?",
        "Each box holds 6 muffins.\nHe needs 54 / 6 = 9 boxes.\nThe answer is 9.",
    ),
    (
        "Tickets to a fair cost $8 for adults and $5 for children. How much do 2 adults and 3 children pay in total?",
        "The adult tickets cost 2 * 8 = 16 dollars.\n"
        "The children's tickets cost 3 * 5 = 15 dollars.\n"
        "Together they pay 16 + 15 = 31 dollars.\n"
        "The answer is 31.",
    ),
    (
        "A garden has 5 rows of tomato plants with 8 plants in each row. "
        "Slugs eat 6 of the plants. How many tomato plants are left?",
        "The garden has 5 * 8 = 40 tomato plants.\n"
        "After the slugs eat 6 there are 40 - 6 = 34 plants.\n"
        "The answer is 34.",
    ),
    (
        "Leo reads 15 pages of his book every day. The book has 120 pages. "
        "How many days does it take him to finish it?",
        "Leo reads 15 pages a day.\nHe needs 120 / 15 = 8 days.\nThe answer is 8.",
    ),
    (
        "A shirt costs $20. It is on sale for 25% off. What is the sale price?",
        "The discount is 25% of 20, which is 0.25 * 20 = 5 dollars.\n"
        "The sale price is 20 - 5 = 15 dollars.\n"
        "The answer is 15.",
    ),
    (
        "Sam is 3 times as old as his sister. His sister is 4 years old. How old will Sam be in 5 years?",
        "Sam is 3 * 4 = 12 years old now.\nIn 5 years he will be 12 + 5 = 17 years old.\nThe answer is 17.",
    ),
    (
        "A tank holds 200 liters of water. It leaks 12 liters an hour for 5 hours, "
        "then is refilled with 30 liters. How much water is in the tank?",
        "The tank loses 12 * 5 = 60 liters.\n"
        "After the leak it holds 200 - 60 = 140 liters.\n"
        "After the refill it holds 140 + 30 = 170 liters.\n"
        "The answer is 170.",
    ),
)

MATH_EXEMPLARS: tuple[tuple[str, str], ...] = (
    (
        "What is the sum of the roots of $x^2 - 7x + 10 = 0$?",
        "The quadratic factors as $(x - 2)(x - 5) = 0$.\n"
        "The roots are $x = 2$ and $x = 5$.\n"
        "Their sum is $2 + 5 = 7$.\n"
        "The answer is $\\boxed{7}$.",
    ),
    (
        "Simplify $\\frac{3}{4} + \\frac{1}{6}$.",
        "The common denominator of 4 and 6 is 12.\n"
        "$\\frac{3}{4} = \\frac{9}{12}$ and $\\frac{1}{6} = \\frac{2}{12}$.\n"
        "The sum is $\\frac{9 + 2}{12} = \\frac{11}{12}$.\n"
        "The answer is $\\boxed{\\frac{11}{12}}$.",
    ),
    (
        "How many positive divisors does $36$ have?",
        "The prime factorization is $36 = 2^2 \\cdot 3^2$.\n"
        "The number of divisors is $(2 + 1)(2 + 1) = 9$.\n"
        "The answer is $\\boxed{9}$.",
    ),
    (
        "Find the distance between the points $(1, 2)$ and $(4, 6)$.",
        "The horizontal difference is $4 - 1 = 3$ and the vertical difference is $6 - 2 = 4$.\n"
        "The distance is $\\sqrt{3^2 + 4^2} = \\sqrt{25} = 5$.\n"
        "The answer is $\\boxed{5}$.",
    ),
)
