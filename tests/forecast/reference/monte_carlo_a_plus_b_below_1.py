# Monte Carlo check of eq. 7 (E[X(t)]) for a + b < 1, where c = a+b-1 < 0.
# Printed: MC 2.8089255 +- 0.0037 vs formula 2.81010349686977.
import numpy as np, mpmath as mp
rng=np.random.default_rng(1)
r,al,a,b,t=0.5,30.0,0.3,0.5,365.0
n=2_000_000
lam=rng.gamma(r,1/al,n); p=rng.beta(a,b,n)
# number of purchases in (0,t] with dropout after each: count = min(Poisson(lam t) events, geometric)
cnt=np.zeros(n); alive=np.ones(n,bool); now=np.zeros(n)
for k in range(400):
    now=now+rng.exponential(1/np.maximum(lam,1e-300))
    ok=alive&(now<=t)
    cnt+=ok
    alive=ok&(rng.random(n)>=p)
    if not alive.any(): break
print("MC", cnt.mean(), "+-", cnt.std()/np.sqrt(n))
f=(a+b-1)/(a-1)*(1-(al/(al+t))**r*mp.hyp2f1(r,b,a+b-1,t/(al+t)))
print("formula", f)
