set terminal png size 1100,800
set output '/work/main/bench/results/2026-12-01T1500Z/results.png'
set multiplot layout 2,1 title 'dotpool benchmark (median of 4 rounds)'
set style fill solid 0.6 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -20
set ylabel 'queries/s (unique names)'
set yrange [0:*]
plot '/work/main/bench/results/2026-12-01T1500Z/plot.dat' using 1:3:xtic(2) with boxes lc rgb '#4477aa' title 'max qps', \
     '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 title 'min..max'
set ylabel 'latency ms at 2000 qps'
set logscale y
set yrange [*:*]
set boxwidth 0.3
plot '/work/main/bench/results/2026-12-01T1500Z/plot.dat' using ($1-0.17):6:xtic(2) with boxes lc rgb '#66ccee' title 'p50', \
     '' using ($1+0.17):7 with boxes lc rgb '#ee6677' title 'p99'
unset multiplot
