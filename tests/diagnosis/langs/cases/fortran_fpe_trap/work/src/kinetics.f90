module kinetics
  implicit none
  integer, parameter :: dp = kind(1.0d0)
  real(dp), parameter :: r_gas = 8.314462618_dp
contains
  ! Arrhenius rate constant k = A exp(-Ea / (R T)) and its log-sensitivity to T.
  subroutine arrhenius(a, ea, temp, k, dlnk_dlnt)
    real(dp), intent(in) :: a, ea, temp
    real(dp), intent(out) :: k, dlnk_dlnt
    real(dp) :: rt
    rt = r_gas * temp
    k = a * exp(-ea / rt)
    ! d ln k / d ln T = Ea / (R T)
    dlnk_dlnt = ea / rt
  end subroutine arrhenius
end module kinetics
