set terminal png size 1200,800
set output 'results.png'
set multiplot layout 2,1 title 'dotpool soak: Unbound RSS, fds and qps (dashed: reloads)'
set arrow from 1.001, graph 0 to 1.001, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 1.999, graph 0 to 1.999, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 3.003, graph 0 to 3.003, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 4.001, graph 0 to 4.001, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 4.999, graph 0 to 4.999, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 6.001, graph 0 to 6.001, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 7.000, graph 0 to 7.000, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 8.001, graph 0 to 8.001, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 8.999, graph 0 to 8.999, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 10.010, graph 0 to 10.010, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 10.998, graph 0 to 10.998, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 11.999, graph 0 to 11.999, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 13.000, graph 0 to 13.000, graph 1 nohead dt 2 lc rgb '#999999'
set arrow from 14.000, graph 0 to 14.000, graph 1 nohead dt 2 lc rgb '#999999'
set grid
set xrange [0:15.004756943384807]
set xlabel 'minutes'
set ylabel 'RSS MiB'
set y2label 'open fds'
set y2range [23:32]
set ytics nomirror
set y2tics
plot 'plot-samples.dat' using 1:2 with linespoints pt 7 ps 0.5 lc rgb '#4477aa' title 'RSS', \
     '' using 1:3 axes x1y2 with steps lc rgb '#228833' title 'fds'
set key at graph 0.98, graph 0.7
set ylabel 'queries/s'
set y2label 'SERVFAIL per 10 s'
set yrange [0:1440.0]
set y2range [0:302.4]
plot 'plot-bins.dat' using 1:2 with lines lw 2 lc rgb '#4477aa' title 'sent qps', \
     '' using 1:3 with lines dt 3 lw 2 lc rgb '#228833' title 'NOERROR qps', \
     '' using 1:4 axes x1y2 with impulses lw 3 lc rgb '#ee6677' title 'SERVFAIL'
unset multiplot
