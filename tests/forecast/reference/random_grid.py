"""Random grid for tests/grid.rs: eq. 10 (conditional expected purchases)
evaluated in mpmath at 50 digits, untransformed, at seeded random points.
Run: python random_grid.py > random_grid.out"""
import random, mpmath as mp
mp.mp.dps = 50
random.seed(2005)
print("// (r, alpha, a, b, t, x, t_x, T, expected)")
for _ in range(60):
    r = round(10 ** random.uniform(-1.3, 0.7), 4); alpha = round(10 ** random.uniform(-0.3, 2.3), 3)
    a = round(10 ** random.uniform(-1, 0.7), 4); b = round(10 ** random.uniform(-1, 1), 4)
    x = random.choice([0, 0, 1, 2, 3, 5, 8, 13, 40, 300])
    T = round(random.uniform(0, 2000), 2) if x == 0 else round(random.uniform(1, 2000), 2)
    tx = 0.0 if x == 0 else round(random.uniform(0, T), 2)
    t = random.choice([7.0, 30.4375, 365.25, 3652.5])
    R, A, AA, B = map(mp.mpf, (str(r), str(alpha), str(a), str(b)))
    tt, TT, TX = mp.mpf(str(t)), mp.mpf(str(T)), mp.mpf(str(tx))
    z = tt / (A + TT + tt)
    num = (AA + B + x - 1) / (AA - 1) * (1 - ((A + TT) / (A + TT + tt)) ** (R + x) * mp.hyp2f1(R + x, B + x, AA + B + x - 1, z))
    den = 1 + (AA / (B + x - 1) * ((A + TT) / (A + TX)) ** (R + x) if x > 0 else 0)
    print(f"    ({r}, {alpha}, {a}, {b}, {t}, {x}, {tx}, {T}, {mp.nstr(num / den, 17)}),")
