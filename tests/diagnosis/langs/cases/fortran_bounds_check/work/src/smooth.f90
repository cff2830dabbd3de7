program smooth
  use filters, only: dp, moving_average
  implicit none
  integer, parameter :: n = 50
  real(dp) :: t(n), signal(n), smoothed(n)
  integer :: i

  do i = 1, n
    t(i) = real(i - 1, dp) * 0.1_dp
    signal(i) = sin(t(i)) + 0.1_dp * cos(17.0_dp * t(i))
  end do
  call moving_average(signal, 3, smoothed)
  print '(a, f8.4)', 'smoothed(25) = ', smoothed(25)
end program smooth
