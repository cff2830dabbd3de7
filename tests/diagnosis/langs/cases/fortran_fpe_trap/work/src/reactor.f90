program reactor
  use kinetics, only: dp, arrhenius
  implicit none
  integer, parameter :: nt = 5
  real(dp) :: temps(nt), k, s
  integer :: i

  ! ramp from the initial (unset) temperature up to 1200 K
  temps = [0.0_dp, 600.0_dp, 800.0_dp, 1000.0_dp, 1200.0_dp]
  do i = 1, nt
    call arrhenius(1.0e13_dp, 1.8e5_dp, temps(i), k, s)
    print '(f8.1, es14.5, f10.3)', temps(i), k, s
  end do
end program reactor
